"""The STS regressor: any HF backbone, a head (trainables/heads.py: cross-encoder pooling heads or the bi-encoder
cosine head), and its Lightning training logic."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn

from trainables.config import TrialConfig
from trainables.cpu_kernels import use_fast_kernels
from trainables.heads import make_head
from trainables.losses import loss_from_config, rdrop_loss, smart_loss
from trainables.metrics import METRIC, pearson
from trainables.optim import make_optimizer, make_scheduler
from trainables.tta import average_views

_HIDDEN_DROPOUT_KEYS = ("hidden_dropout_prob", "hidden_dropout", "dropout")
_ATTENTION_DROPOUT_KEYS = ("attention_probs_dropout_prob", "attention_dropout")


def backbone_config(cfg: TrialConfig, source: str | None = None):
    """The backbone's HF config with the trial's dropout overrides applied."""
    from transformers import AutoConfig

    hf = AutoConfig.from_pretrained(source or cfg.backbone)
    for value, keys in ((cfg.hidden_dropout, _HIDDEN_DROPOUT_KEYS), (cfg.attention_dropout, _ATTENTION_DROPOUT_KEYS)):
        if value is None:
            continue
        for key in keys:
            if hasattr(hf, key):
                setattr(hf, key, value)
    return hf


def build_backbone(cfg: TrialConfig, hf_config=None, *, pretrained: bool | None = None) -> nn.Module:
    """Pretrained weights by hub name or local dir, or a random init from the config (offline tiny model)."""
    from transformers import AutoModel

    hf_config = hf_config if hf_config is not None else backbone_config(cfg)
    load = (not cfg.random_init) if pretrained is None else pretrained

    def make(**kw: Any) -> nn.Module:
        if load:
            return AutoModel.from_pretrained(cfg.backbone, config=hf_config, **kw)
        return AutoModel.from_config(hf_config, **kw)

    # The pooler is unused (heads pool themselves); BERT-like models can skip building it, others
    # (ELECTRA, DeBERTa) have none and reject the argument.
    try:
        return make(add_pooling_layer=False)
    except TypeError:
        return make()


class STSRegressor(pl.LightningModule):
    """Cross-encoder trained on pairs; validation Pearson over the whole dev set at every validation."""

    def __init__(
        self,
        cfg: TrialConfig,
        *,
        steps_per_epoch: int = 1,
        start_epoch: float = 0.0,
        start_step: int = 0,
        hf_config=None,
        pretrained: bool | None = None,
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.steps_per_epoch = steps_per_epoch
        self.start_epoch = start_epoch
        self.start_step = start_step
        self.backbone = build_backbone(cfg, hf_config, pretrained=pretrained)
        # `from_pretrained` hands the backbone back in eval mode and Lightning 2.x keeps each submodule's mode
        # as it finds it, so without this every dropout of a pretrained backbone would be off in training.
        self.backbone.train()
        self.hf_config = self.backbone.config
        self.head = make_head(cfg.head, self.hf_config.hidden_size, cfg.head_dropout)
        self.loss_fn = loss_from_config(cfg)
        self.dev_labels: np.ndarray | None = None
        self.dev_predictions: np.ndarray | None = None
        self.last_validation: dict[str, float] = {}
        self._val_preds: list[torch.Tensor] = []
        self._val_index: list[torch.Tensor] = []
        self._loss_sum = 0.0
        self._loss_count = 0
        self._batches_in_epoch = 0
        if cfg.cpu_kernels:  # a no-op at run time for CUDA tensors and in eval mode
            use_fast_kernels(self)

    # --- forward -------------------------------------------------------------------------------------
    def forward(self, batch: dict[str, torch.Tensor], inputs_embeds: torch.Tensor | None = None) -> torch.Tensor:
        kwargs: dict[str, torch.Tensor] = {"attention_mask": batch["attention_mask"]}
        if "token_type_ids" in batch:
            kwargs["token_type_ids"] = batch["token_type_ids"]
        if inputs_embeds is not None:
            out = self.backbone(inputs_embeds=inputs_embeds, **kwargs)
        else:
            out = self.backbone(input_ids=batch["input_ids"], **kwargs)
        return self.head(out.last_hidden_state, batch["attention_mask"], batch["sep_index"])

    # --- training ------------------------------------------------------------------------------------
    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        y = batch["labels"]
        cfg = self.cfg
        if cfg.rdrop_alpha > 0:
            p1, p2 = self(batch), self(batch)
            loss = rdrop_loss(self.loss_fn, p1, p2, y, cfg.rdrop_alpha)
            pred = p1
        else:
            pred = self(batch)
            loss = self.loss_fn(pred, y)
        if cfg.smart_weight > 0:
            embeds = self.backbone.get_input_embeddings()(batch["input_ids"])
            reg = smart_loss(
                lambda e: self(batch, inputs_embeds=e), embeds, pred,
                eps=cfg.smart_eps, step_size=cfg.smart_step_size, noise_std=cfg.smart_noise,
                mask=batch["attention_mask"],
            )
            loss = loss + cfg.smart_weight * reg
        self._loss_sum += float(loss.detach())
        self._loss_count += 1
        self.log("train_loss", loss.detach(), on_step=True, on_epoch=False, prog_bar=True, batch_size=len(y))
        return loss

    def on_train_epoch_start(self) -> None:
        self._batches_in_epoch = 0
        # guard: whatever ran before (a checkpoint load, an inference pass) must not leave dropout off
        self.train()

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        self._batches_in_epoch += 1
        opt = self.trainer.optimizers[0] if self.trainer.optimizers else None
        if opt is not None:
            self.log("lr", opt.param_groups[0]["lr"], on_step=True, on_epoch=False)

    def configure_optimizers(self):
        opt = make_optimizer(self, self.cfg)
        sched = make_scheduler(opt, self.cfg, self.steps_per_epoch, self.start_step)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    # --- validation ----------------------------------------------------------------------------------
    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._val_preds.append(self(batch).detach().float().cpu())
        self._val_index.append(batch["index"].cpu())

    def on_validation_epoch_end(self) -> None:
        if not self._val_preds:
            return
        preds = torch.cat(self._val_preds).numpy()
        index = torch.cat(self._val_index).numpy()
        self._val_preds.clear()
        self._val_index.clear()
        ordered = np.empty(len(preds), dtype=np.float64)
        ordered[index] = preds
        if self.dev_labels is None:
            raise RuntimeError("STSRegressor.dev_labels must be set before validation")
        y = self.dev_labels
        # tta: swap validates both sentence orders (rows n..2n-1 are the swapped ones): one mean per dev row
        ordered = average_views(ordered, len(y))
        self.dev_predictions = ordered
        r = pearson(ordered, y)
        if math.isnan(r):
            # A collapsed model (one value for every pair) has no Pearson. Schedulers need a number: ASHA's
            # `score < cutoff` is False for NaN, so such a trial would never be stopped. 0.0 = no linear relation.
            r = 0.0
        val_loss = float(self.loss_fn(torch.tensor(ordered, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)))
        train_loss = self._loss_sum / self._loss_count if self._loss_count else float("nan")
        self._loss_sum, self._loss_count = 0.0, 0
        self.last_validation = {
            METRIC: r,
            "val_loss": val_loss,
            "train_loss": train_loss,
            "epoch": self.epoch_progress(),
            "global_step": int(self.start_step + self.trainer.global_step),
            "lr": float(self.trainer.optimizers[0].param_groups[0]["lr"]) if self.trainer.optimizers else 0.0,
        }
        self.log(METRIC, r, prog_bar=True)
        self.log("val_loss", val_loss, prog_bar=True)

    def epoch_progress(self) -> float:
        """Epochs completed at this validation (fractional with several validations per epoch)."""
        if self.trainer.sanity_checking:
            return float(self.start_epoch)
        n = self.trainer.num_training_batches
        frac = self._batches_in_epoch / n if n and math.isfinite(n) else 1.0
        # report the nominal check point (k / val_checks_per_epoch): Lightning validates after
        # floor(n / k) batches, and 87/349 = 0.249 would miss a scheduler rung at 0.25 by a hair
        checks = self.cfg.val_checks_per_epoch
        frac = round(min(frac, 1.0) * checks) / checks
        return round(float(self.start_epoch + self.trainer.current_epoch + frac), 4)

    # --- inference -----------------------------------------------------------------------------------
    @torch.no_grad()
    def predict_loader(self, loader) -> np.ndarray:
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        dtype = torch.bfloat16 if self.cfg.precision == "bf16-mixed" else torch.float16
        use_amp = self.cfg.precision != "32" and device.type == "cuda"
        preds, index = [], []
        for batch in loader:
            batch = {k: v.to(device) for k, v in batch.items()}
            with torch.autocast(device.type, dtype=dtype, enabled=use_amp):
                preds.append(self(batch).float().cpu())
            index.append(batch["index"].cpu())
        self.train(was_training)
        p = torch.cat(preds).numpy().astype(np.float64)
        out = np.empty(len(p), dtype=np.float64)
        out[torch.cat(index).numpy()] = p
        return out
