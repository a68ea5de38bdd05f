"""Every option of the regressor runs real training steps on a micro model (1 layer, hidden 32)."""

from __future__ import annotations

import math

import pytest
import torch

from trainables.config import HEADS, LOSSES, OPTIMIZERS, SCHEDULES
from trainables.model import STSRegressor, backbone_config
from trainables.training import train


def run(cfg):
    result = train(cfg)
    assert result.steps >= 1
    assert math.isfinite(result.val_pearson)
    assert len(result.history) == cfg.max_epochs * cfg.val_checks_per_epoch
    return result


@pytest.mark.parametrize("head", HEADS)
def test_heads(micro_config, head):
    run(micro_config(head=head))


@pytest.mark.parametrize("loss", LOSSES)
def test_losses(micro_config, loss):
    run(micro_config(loss=loss, huber_delta=0.5, smooth_l1_beta=0.5))


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_optimizers(micro_config, optimizer):
    run(micro_config(optimizer=optimizer, weight_decay=0.05))


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_schedules(micro_config, schedule):
    run(micro_config(schedule=schedule, warmup_ratio=0.2, limit_train_batches=2))


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
