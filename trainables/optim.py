"""Optimizers and learning-rate schedules, registered by name (`optimizer`, `schedule` in the trial config).

Each is one decorated builder whose knobs are trial-config fields; schedules are stepped once per optimizer step.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR, LRScheduler

from trainables.registry import OPTIMIZERS, SCHEDULES

if TYPE_CHECKING:
    from trainables.config import TrialConfig

_NO_DECAY = ("bias", "LayerNorm.weight", "layer_norm.weight", "LayerNorm.bias", "norm.weight")


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or any(k in name for k in _NO_DECAY) else decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def make_optimizer(model: nn.Module, cfg: TrialConfig) -> torch.optim.Optimizer:
    """The optimizer registered as `cfg.optimizer`, over decay / no-decay parameter groups."""
    return OPTIMIZERS.build(cfg.optimizer, cfg, param_groups(model, cfg.weight_decay))


def _fused(precision: str) -> bool:
    # fused kernels: ~6x faster steps on CPU (the embedding matrix dominates small models), also on CUDA.
    # Not under mixed precision: Lightning's AMP plugin refuses to clip gradients of fused optimizers.
    return precision == "32"


# --- optimizers: (param groups, **knobs) -> torch optimizer ------------------------------------------
@OPTIMIZERS.register("adam", knobs=("lr", "precision"))
def _adam(groups: list[dict], *, lr: float, precision: str) -> torch.optim.Optimizer:
    return torch.optim.Adam(groups, lr=lr, fused=_fused(precision))


@OPTIMIZERS.register("adamw", knobs=("lr", "precision"))
def _adamw(groups: list[dict], *, lr: float, precision: str) -> torch.optim.Optimizer:
    return torch.optim.AdamW(groups, lr=lr, fused=_fused(precision))


@OPTIMIZERS.register("sgd", knobs=("lr", "momentum", "precision"))
def _sgd(groups: list[dict], *, lr: float, momentum: float, precision: str) -> torch.optim.Optimizer:
    return torch.optim.SGD(groups, lr=lr, momentum=momentum, fused=_fused(precision))


@OPTIMIZERS.register("rmsprop", knobs=("lr", "momentum"))
def _rmsprop(groups: list[dict], *, lr: float, momentum: float) -> torch.optim.Optimizer:
    return torch.optim.RMSprop(groups, lr=lr, momentum=momentum)


@OPTIMIZERS.register("nadam", knobs=("lr",))
def _nadam(groups: list[dict], *, lr: float) -> torch.optim.Optimizer:
    return torch.optim.NAdam(groups, lr=lr)


@OPTIMIZERS.register("radam", knobs=("lr",))
def _radam(groups: list[dict], *, lr: float) -> torch.optim.Optimizer:
    return torch.optim.RAdam(groups, lr=lr)


# --- schedules: (steps_per_epoch, total_steps, **knobs) -> multiplier of the peak lr at step s ---------
Multiplier = Callable[[int], float]


def lr_lambda(cfg: TrialConfig, steps_per_epoch: int, total_steps: int) -> Multiplier:
    """Multiplier of the peak lr at optimizer step `s` (0-based) for the trial's schedule."""
    return SCHEDULES.build(cfg.schedule, cfg, steps_per_epoch, total_steps)


def _warm(s: int, warmup: int) -> float | None:
    return s / max(1, warmup) if s < warmup else None


@SCHEDULES.register("constant")
def _constant(steps_per_epoch: int, total_steps: int) -> Multiplier:
    return lambda s: 1.0


@SCHEDULES.register("step", knobs=("step_epochs", "step_gamma"))
def _step(steps_per_epoch: int, total_steps: int, *, step_epochs: float, step_gamma: float) -> Multiplier:
    every = max(1, round(step_epochs * steps_per_epoch))
    return lambda s: step_gamma ** (s // every)


@SCHEDULES.register("cosine")
def _cosine(steps_per_epoch: int, total_steps: int) -> Multiplier:
    total = max(total_steps, 1)
    return lambda s: 0.5 * (1.0 + math.cos(math.pi * min(s, total) / total))


@SCHEDULES.register("cosine_restarts", knobs=("num_cycles",))
def _cosine_restarts(steps_per_epoch: int, total_steps: int, *, num_cycles: int) -> Multiplier:
    period = max(1, max(total_steps, 1) // num_cycles)
    return lambda s: 0.5 * (1.0 + math.cos(math.pi * (s % period) / period))


@SCHEDULES.register("linear_warmup", knobs=("warmup_ratio",))
def _linear_warmup(steps_per_epoch: int, total_steps: int, *, warmup_ratio: float) -> Multiplier:
    warmup, total = int(warmup_ratio * total_steps), max(total_steps, 1)

    def f(s: int) -> float:
        w = _warm(s, warmup)
        return w if w is not None else max(0.0, (total - s) / max(1, total - warmup))

    return f


@SCHEDULES.register("cosine_warmup", knobs=("warmup_ratio",))
def _cosine_warmup(steps_per_epoch: int, total_steps: int, *, warmup_ratio: float) -> Multiplier:
    warmup, total = int(warmup_ratio * total_steps), max(total_steps, 1)

    def f(s: int) -> float:
        w = _warm(s, warmup)
        if w is not None:
            return w
        progress = (s - warmup) / max(1, total - warmup)
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))

    return f


@SCHEDULES.register("cosine_hard_restarts_warmup", knobs=("warmup_ratio", "num_cycles"))
def _cosine_hard_restarts_warmup(
    steps_per_epoch: int, total_steps: int, *, warmup_ratio: float, num_cycles: int
) -> Multiplier:
    warmup, total = int(warmup_ratio * total_steps), max(total_steps, 1)

    def f(s: int) -> float:
        w = _warm(s, warmup)
        if w is not None:
            return w
        progress = (s - warmup) / max(1, total - warmup)
        if progress >= 1.0:
            return 0.0
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * ((num_cycles * progress) % 1.0))))

    return f


def make_scheduler(
    optimizer: torch.optim.Optimizer, cfg: TrialConfig, steps_per_epoch: int, start_step: int = 0
) -> LRScheduler:
    """LambdaLR over the whole run; `start_step` fast-forwards it for a trial resumed mid-run."""
    total = steps_per_epoch * cfg.max_epochs
    sched = LambdaLR(optimizer, lr_lambda(cfg, steps_per_epoch, total))
    if start_step:
        with warnings.catch_warnings():
            # stepping before optimizer.step() is the point here: we are replaying the schedule
            warnings.simplefilter("ignore", UserWarning)
            for _ in range(start_step):
                sched.step()
    return sched
