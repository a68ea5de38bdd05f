"""Regression losses, registered by name (`loss` in the trial config), and the two regularisers (R-Drop, SMART).

A loss is a `RegressionLoss` subclass registered with `@LOSSES.register(name, knobs=(...))`: the knobs are
trial-config fields passed to its constructor by name. That registration is all the config needs to accept it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from trainables.registry import LOSSES


class RegressionLoss(nn.Module):
    """Mean loss between predictions and targets of the same 1-D shape; names itself when misused."""

    name = "regression"

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if pred.shape != target.shape:
            raise ValueError(f"{self.name} loss: prediction shape {tuple(pred.shape)} != target {tuple(target.shape)}")
        return self.compute(pred.float(), target.float())

    def compute(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


@LOSSES.register("l1")
class L1(RegressionLoss):
    name = "l1"

    def compute(self, pred, target):
        return F.l1_loss(pred, target)


@LOSSES.register("mse")
class MSE(RegressionLoss):
    name = "mse"

    def compute(self, pred, target):
        return F.mse_loss(pred, target)


@LOSSES.register("huber", knobs=("huber_delta",))
class Huber(RegressionLoss):
    name = "huber"

    def __init__(self, huber_delta: float = 1.0) -> None:
        super().__init__()
        if huber_delta <= 0:
            raise ValueError(f"huber loss: delta must be > 0, got {huber_delta}")
        self.delta = huber_delta

    def compute(self, pred, target):
        return F.huber_loss(pred, target, delta=self.delta)


@LOSSES.register("smooth_l1", knobs=("smooth_l1_beta",))
class SmoothL1(RegressionLoss):
    name = "smooth_l1"

    def __init__(self, smooth_l1_beta: float = 1.0) -> None:
        super().__init__()
        if smooth_l1_beta <= 0:
            raise ValueError(f"smooth_l1 loss: beta must be > 0, got {smooth_l1_beta}")
        self.beta = smooth_l1_beta

    def compute(self, pred, target):
        return F.smooth_l1_loss(pred, target, beta=self.beta)


def make_loss(name: str, **knobs: Any) -> RegressionLoss:
    """The loss registered as `name`; `knobs` (config field names, e.g. huber_delta=2.0) reach it if it takes them."""
    return LOSSES.build(name, knobs)


def loss_from_config(cfg: Any) -> RegressionLoss:
    """The trial's loss with its knobs read from the config."""
    return LOSSES.build(cfg.loss, cfg)


def rdrop_loss(
    loss: RegressionLoss, pred1: torch.Tensor, pred2: torch.Tensor, target: torch.Tensor, alpha: float
) -> torch.Tensor:
    """R-Drop for regression: two dropout passes agree with the label and with each other.

    loss(y1, y) + loss(y2, y) + alpha * loss(y1, y2)   (the playbook's form; the consistency term uses the
    same base loss, both directions being equal for a symmetric loss).
    """
    return loss(pred1, target) + loss(pred2, target) + alpha * loss(pred1, pred2)


def smart_loss(
    predict_from_embeds: Callable[[torch.Tensor], torch.Tensor],
    embeds: torch.Tensor,
    clean_pred: torch.Tensor,
    *,
    eps: float,
    step_size: float,
    noise_std: float,
    mask: torch.Tensor | None = None,
    steps: int = 1,
) -> torch.Tensor:
    """SMART smoothness-inducing adversarial regulariser (Jiang et al. 2020) for a regression output.

    Starts from small Gaussian noise on the input embeddings, takes `steps` ascent steps on the squared-error
    divergence between perturbed and clean predictions (normalised gradient, projected to an L-inf ball of
    radius `eps` per token), and returns the squared error at the final perturbation. The clean prediction
    is detached: the regulariser pulls the perturbed output towards it, as in the paper.
    """
    embeds_in = embeds
    embeds = embeds.detach()
    target = clean_pred.detach().float()
    noise = torch.randn_like(embeds) * noise_std
    if mask is not None:
        noise = noise * mask.unsqueeze(-1).to(noise.dtype)
    for _ in range(steps):
        noise.requires_grad_(True)
        adv = predict_from_embeds(embeds + noise)
        div = ((adv.float() - target) ** 2).mean()
        (grad,) = torch.autograd.grad(div, noise)
        norm = grad.abs().amax(dim=-1, keepdim=True).clamp_min(1e-12)
        noise = (noise + step_size * grad / norm).detach()
        noise = noise.clamp(-eps, eps)
        if mask is not None:
            noise = noise * mask.unsqueeze(-1).to(noise.dtype)
    adv = predict_from_embeds(embeds_in + noise)
    return ((adv.float() - target) ** 2).mean()
