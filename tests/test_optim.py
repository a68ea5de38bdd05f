from __future__ import annotations

import pytest
import torch

from trainables.config import TrialConfig
from trainables.optim import lr_lambda, make_optimizer, make_scheduler, param_groups
from trainables.registry import SCHEDULES


def curve(schedule, steps_per_epoch=10, epochs=4, **kw):
    cfg = TrialConfig(schedule=schedule, max_epochs=epochs, **kw)
    f = lr_lambda(cfg, steps_per_epoch, steps_per_epoch * epochs)
    return [f(s) for s in range(steps_per_epoch * epochs)]


def test_warmup_schedules_rise_to_peak_then_decay():
    for name in ("linear_warmup", "cosine_warmup", "cosine_hard_restarts_warmup"):
        c = curve(name, warmup_ratio=0.25)
        assert c[0] == 0.0 and c[10] == pytest.approx(1.0)
        assert c[5] == pytest.approx(0.5)
        assert c[-1] < 0.2


def test_constant_step_cosine_and_restarts():
    assert set(curve("constant")) == {1.0}
    s = curve("step", step_epochs=1, step_gamma=0.5)
    assert s[9] == 1.0 and s[10] == 0.5 and s[20] == 0.25
    c = curve("cosine")
    assert c[0] == 1.0 and c[20] == pytest.approx(0.5) and c[-1] < 0.01
    r = curve("cosine_restarts", num_cycles=2)
    assert r[0] == 1.0 and r[20] == 1.0 and r[19] < 0.01
    h = curve("cosine_hard_restarts_warmup", warmup_ratio=0.0, num_cycles=2)
    assert h[20] == pytest.approx(1.0) and h[19] < 0.05


def test_every_registered_schedule_is_its_own_curve_within_the_peak():
    curves = {name: curve(name) for name in SCHEDULES.names()}
    for name, c in curves.items():
        assert all(0.0 <= m <= 1.0 for m in c), name
    # no two names fall through to the same multipliers (a missing branch would)
    distinct = {tuple(round(m, 9) for m in c) for c in curves.values()}
    assert len(distinct) == len(curves)


def test_no_weight_decay_on_bias_and_layernorm():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    decay, no_decay = param_groups(model, 0.1)
    assert len(decay["params"]) == 1 and decay["weight_decay"] == 0.1
    assert len(no_decay["params"]) == 3 and no_decay["weight_decay"] == 0.0


def test_scheduler_fast_forward_matches_stepping():
    model = torch.nn.Linear(2, 1)
    cfg = TrialConfig(schedule="linear_warmup", max_epochs=3, lr=1.0)
    a = make_scheduler(make_optimizer(model, cfg), cfg, 10, start_step=13)
    f = lr_lambda(cfg, 10, 30)
    assert a.get_last_lr()[0] == pytest.approx(f(13))
