"""Train/eval modes: dropout is on in training steps (pretrained and random-init backbones) and off in
validation and prediction. These failed before the fix: `from_pretrained` returns an eval-mode backbone."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from trainables.model import STSRegressor
from trainables.pipeline import prepare_data
from trainables.training import train


@pytest.fixture(scope="module")
def pretrained_micro(micro_backbone: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The micro backbone saved with weights, so it loads through `from_pretrained` like a hub model."""
    from transformers import AutoConfig, AutoModel

    out = tmp_path_factory.mktemp("pretrained-micro")
    torch.manual_seed(0)
    AutoModel.from_config(AutoConfig.from_pretrained(micro_backbone)).save_pretrained(out)
    for f in micro_backbone.iterdir():
        if f.is_file() and f.name != "config.json":
            (out / f.name).write_bytes(f.read_bytes())
    return out


class ModeRecorder(pl.Callback):
    """Records, at every backbone forward, the stage and whether every backbone submodule was training."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, bool, bool]] = []

    def on_fit_start(self, trainer: pl.Trainer, module: STSRegressor) -> None:
        def hook(mod, args, out):
            modes = [m.training for m in module.backbone.modules()]
            stage = "train" if trainer.training else "validate" if trainer.validating else "other"
            self.seen.append((stage, all(modes), any(modes)))

        module.backbone.register_forward_hook(hook)


def test_pretrained_backbone_trains_in_train_mode_and_validates_in_eval_mode(micro_config, pretrained_micro):
    rec = ModeRecorder()
    cfg = micro_config(backbone=str(pretrained_micro), random_init=False, hidden_dropout=0.1, limit_train_batches=3)
    train(cfg, trainer_overrides={"callbacks": [rec]})
    train_modes = [(a, b) for stage, a, b in rec.seen if stage == "train"]
    val_modes = [(a, b) for stage, a, b in rec.seen if stage == "validate"]
    assert len(train_modes) == 3 and val_modes
    assert all(all_on for all_on, _ in train_modes), "some backbone submodule was in eval mode in a training step"
    assert not any(any_on for _, any_on in val_modes), "some backbone submodule was training during validation"


@pytest.mark.parametrize("random_init", [False, True])
def test_dropout_makes_training_passes_differ_and_eval_passes_equal(micro_config, pretrained_micro, random_init):
    cfg = micro_config(backbone=str(pretrained_micro), random_init=random_init, hidden_dropout=0.3, head_dropout=0.0)
    model = STSRegressor(cfg)
    batch = next(iter(_loader(cfg)))
    # the module as built for training: no explicit .train() here, that is the point
    assert not torch.allclose(model(batch), model(batch))
    model.eval()
    assert torch.equal(model(batch), model(batch))


def test_rdrop_passes_differ_inside_training(micro_config, pretrained_micro):
    outputs: list[torch.Tensor] = []

    class HeadRecorder(pl.Callback):
        def on_fit_start(self, trainer, module):
            module.head.register_forward_hook(
                lambda mod, args, out: outputs.append(out.detach().clone()) if trainer.training else None
            )

    cfg = micro_config(backbone=str(pretrained_micro), random_init=False, rdrop_alpha=1.0, hidden_dropout=0.2,
                       head_dropout=0.0, limit_train_batches=2)
    train(cfg, trainer_overrides={"callbacks": [HeadRecorder()]})
    assert len(outputs) == 4  # two passes per step
    for p1, p2 in zip(outputs[0::2], outputs[1::2], strict=True):
        assert not torch.allclose(p1, p2), "R-Drop's two passes were identical: dropout is off"


def _loader(cfg):
    from trainables.batching import make_loader

    data = prepare_data(cfg)
    return make_loader(data.dev_enc, None, 16, train=False, seed=0)
