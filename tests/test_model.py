"""Every option of the regressor runs real training steps on a micro model (1 layer, hidden 32)."""

from __future__ import annotations

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from trainables.metrics import pearson
from trainables.model import STSRegressor, backbone_config
from trainables.optim import lr_lambda
from trainables.registry import HEADS, LOSSES, OPTIMIZERS, SCHEDULES
from trainables.training import train


class LastDev(pl.Callback):
    """The dev predictions and the Pearson the module reported at its last validation."""

    def on_validation_end(self, trainer, module):
        self.predictions = module.dev_predictions.copy()
        self.labels = module.dev_labels
        self.reported = module.last_validation["val_pearson"]


def run(cfg, *callbacks):
    last = LastDev()
    result = train(cfg, trainer_overrides={"callbacks": [*callbacks, last]})
    assert result.steps >= 1
    assert len(result.history) == cfg.max_epochs * cfg.val_checks_per_epoch
    # the model did not collapse to one value (the trainer reports 0.0 for that), and what it reported is
    # the Pearson of its dev predictions
    assert np.ptp(last.predictions) > 0
    assert last.reported == pytest.approx(pearson(last.predictions, last.labels))
    return result


class Seen(pl.Callback):
    """What the fit really used: the optimizer, the lr at every step, the head and the loss."""

    def __init__(self) -> None:
        self.lrs: list[float] = []
        self.optimizer = None
        self.module = None

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.optimizer, self.module = trainer.optimizers[0], module
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


_OPTIMIZER_CLASSES = {
    "adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop, "nadam": torch.optim.NAdam, "radam": torch.optim.RAdam,
}


@pytest.mark.parametrize("head", HEADS.names())
def test_heads(micro_config, head):
    seen = Seen()
    run(micro_config(head=head), seen)
    assert seen.module.head.kind == head
    if head == "bi_cosine":  # no dense layers: a learnable scale and shift of the cosine (tests/test_bi_encoder.py)
        assert {n for n, _ in seen.module.head.named_parameters()} == {"scale", "shift"}
    else:
        assert seen.module.head.net[1].in_features == (64 if head == "cls_sep_concat" else 32)


def test_heads_pool_differently(micro_config):
    h = torch.randn(2, 5, 32)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    pooled = {k: STSRegressor(micro_config(head=k)).head.pool(h, mask, torch.tensor([2, 3]))
              for k in HEADS.names() if k != "bi_cosine"}
    assert torch.equal(pooled["cls"], h[:, 0])
    assert torch.allclose(pooled["mean"][0], h[0, :3].mean(0))
    assert not torch.allclose(pooled["mean"], pooled["cls"])


@pytest.mark.parametrize("loss", LOSSES.names())
def test_losses(micro_config, loss):
    seen = Seen()
    run(micro_config(loss=loss, huber_delta=0.5, smooth_l1_beta=0.5), seen)
    assert seen.module.loss_fn.name == loss
    if loss == "huber":
        assert seen.module.loss_fn.delta == 0.5


@pytest.mark.parametrize("optimizer", OPTIMIZERS.names())
def test_optimizers(micro_config, optimizer):
    seen = Seen()
    run(micro_config(optimizer=optimizer, weight_decay=0.05, lr=3e-3, schedule="constant"), seen)
    assert type(seen.optimizer.optimizer if hasattr(seen.optimizer, "optimizer") else seen.optimizer) is (
        _OPTIMIZER_CLASSES[optimizer]
    )
    assert seen.lrs == [pytest.approx(3e-3)] * 3
    assert {g["weight_decay"] for g in seen.optimizer.param_groups} == {0.05, 0.0}


@pytest.mark.parametrize("schedule", SCHEDULES.names())
def test_schedules(micro_config, schedule):
    seen = Seen()
    cfg = micro_config(schedule=schedule, warmup_ratio=0.2, limit_train_batches=0, max_epochs=1, lr=1e-3)
    run(cfg, seen)
    steps = len(seen.lrs)
    f = lr_lambda(cfg, steps, steps)
    assert seen.lrs == pytest.approx([1e-3 * f(s) for s in range(steps)])


@pytest.mark.parametrize("precision", ["32", "16-mixed", "bf16-mixed"])
def test_precisions(micro_config, precision):
    run(micro_config(precision=precision, limit_train_batches=2))


def test_rdrop_and_smart_together_with_clipping_and_accumulation(micro_config):
    run(micro_config(rdrop_alpha=1.0, smart_weight=0.5, smart_eps=1e-3, grad_clip=0.5, accumulate_grad_batches=2,
                     limit_train_batches=4))


def test_padding_to_max_length(micro_config):
    r = run(micro_config(padding="max_length", max_length=64))
    assert r.pad_fraction > 0.3


def test_several_validations_per_epoch_report_fractional_epochs(micro_config):
    r = run(micro_config(val_checks_per_epoch=2, limit_train_batches=0, max_epochs=1))
    assert [h["epoch"] for h in r.history] == [0.5, 1.0]


def test_dropout_overrides_reach_the_backbone_and_head(micro_config):
    cfg = micro_config(hidden_dropout=0.0, attention_dropout=0.17, head_dropout=0.05)
    hf = backbone_config(cfg)
    assert hf.hidden_dropout_prob == 0.0 and hf.attention_probs_dropout_prob == 0.17
    model = STSRegressor(cfg)
    assert model.head.net[0].p == 0.05
    run(cfg)


def test_same_seed_gives_the_same_val_pearson(micro_config):
    a = train(micro_config(seed=11, limit_train_batches=4, hidden_dropout=0.1))
    b = train(micro_config(seed=11, limit_train_batches=4, hidden_dropout=0.1))
    c = train(micro_config(seed=12, limit_train_batches=4, hidden_dropout=0.1))
    assert a.val_pearson == b.val_pearson
    assert a.val_pearson != c.val_pearson


def test_cls_sep_heads_read_the_separator_position(micro_config):
    model = STSRegressor(micro_config(head="cls_sep_add"))
    h = torch.arange(2 * 5 * 32, dtype=torch.float32).reshape(2, 5, 32)
    pooled = model.head.pool(h, torch.ones(2, 5), torch.tensor([2, 3]))
    assert torch.equal(pooled[0], h[0, 0] + h[0, 2]) and torch.equal(pooled[1], h[1, 0] + h[1, 3])
