"""Regression losses and the two regularisers of the STS playbook (R-Drop, SMART)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from trainables.config import LOSSES


class RegressionLoss(nn.Module):
    """Mean loss between predictions and targets of the same 1-D shape; names itself when misused."""

    name = "regression"

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if pred.shape != target.shape:
            raise ValueError(f"{self.name} loss: prediction shape {tuple(pred.shape)} != target {tuple(target.shape)}")
        return self.compute(pred.float(), target.float())

    def compute(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class L1(RegressionLoss):
    name = "l1"

    def compute(self, pred, target):
        return F.l1_loss(pred, target)


class MSE(RegressionLoss):
    name = "mse"

    def compute(self, pred, target):
        return F.mse_loss(pred, target)


class Huber(RegressionLoss):
    name = "huber"

    def __init__(self, delta: float = 1.0) -> None:
        super().__init__()
        if delta <= 0:
            raise ValueError(f"huber loss: delta must be > 0, got {delta}")
        self.delta = delta

    def compute(self, pred, target):
        return F.huber_loss(pred, target, delta=self.delta)


class SmoothL1(RegressionLoss):
    name = "smooth_l1"

    def __init__(self, beta: float = 1.0) -> None:
        super().__init__()
        if beta <= 0:
            raise ValueError(f"smooth_l1 loss: beta must be > 0, got {beta}")
        self.beta = beta

    def compute(self, pred, target):
        return F.smooth_l1_loss(pred, target, beta=self.beta)


def make_loss(name: str, *, huber_delta: float = 1.0, smooth_l1_beta: float = 1.0) -> RegressionLoss:
    if name == "l1":
        return L1()
    if name == "mse":
        return MSE()
    if name == "huber":
        return Huber(huber_delta)
    if name == "smooth_l1":
        return SmoothL1(smooth_l1_beta)
    raise ValueError(f"loss={name!r}: allowed values are {', '.join(LOSSES)}")


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
