"""Faster dropout and training attention for CPU trials: the same model and the same maths, fewer cycles.

Measured on e5-small (bench/trainer_vs_loops.py, bench/RESULTS.md): with dropout on, torch's CPU dropout draws one
Mersenne-Twister float per element (`bernoulli_`, serial at any thread count), ~8% of a 1-thread training step,
and attention dropout forces SDPA off its fused kernel onto a math path that copies q/k/v. Here a keep-mask comes
from 16 random bits per element (four per 64-bit draw of the same generator, so `torch.manual_seed` still fixes it)
as a scaled mask, one multiply each way, and attention in training is two matmuls around an in-place mask and
softmax. The drop probability is rounded to a multiple of 1/65536 and the scale is 1 / (1 - that), so every
activation keeps its expectation exactly. CUDA tensors, eval mode and p in {0, 1} take torch's own paths.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

ATTENTION = "sts_cpu"  # the backbone's attn_implementation while this module's attention is in use
_LEVELS = 1 << 16


def keep_scale(x: torch.Tensor, p: float) -> torch.Tensor:
    """A mask like x, in its dtype: 1 / (1 - q) with probability 1 - q, else 0, for q = round(p * 2^16) / 2^16."""
    n = x.numel()
    drop = round(p * _LEVELS)
    bits = torch.empty((n + 3) // 4, dtype=torch.int64, device=x.device).random_(-(1 << 63), None)
    # int16 chunks of uniform 64-bit draws are uniform on [-32768, 32767]: keep the top 2^16 - drop of them
    keep = bits.view(torch.int16)[:n].view(x.shape) >= drop - (_LEVELS >> 1)
    return torch.where(keep, torch.tensor(_LEVELS / (_LEVELS - drop), dtype=x.dtype), torch.tensor(0, dtype=x.dtype))


class _Dropout(torch.autograd.Function):
    # the scaled mask is kept in x's dtype (4 bytes an element in fp32, where torch keeps 1): one multiply each way
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, p: float) -> torch.Tensor:
        mask = keep_scale(x, p)
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (mask,) = ctx.saved_tensors
        return grad * mask, None


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    if not training or p <= 0.0 or p >= 1.0 or x.device.type != "cpu" or not x.is_floating_point():
        return nn.functional.dropout(x, p, training)
    return _Dropout.apply(x, p)


class FastDropout(nn.Dropout):
    """nn.Dropout (same p, same state dict, still an nn.Dropout) drawing its CPU mask with `dropout` above."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)


def attention(module: nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
              attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
              **kwargs: Any) -> tuple[torch.Tensor, None]:
    """A transformers attention function: the math path with fast dropout when a CPU module trains with attention
    dropout, SDPA otherwise (its fused kernels are the fastest there is without dropout)."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if not (module.training and dropout > 0.0 and query.device.type == "cpu" and kwargs.get("position_bias") is None
            and not getattr(module, "is_causal", False) and query.shape[1] == key.shape[1]):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    scale = query.shape[-1] ** -0.5 if scaling is None else scaling
    scores = torch.matmul(query, key.transpose(-1, -2)).mul_(scale)
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:
            scores = scores.masked_fill_(attention_mask.logical_not(), torch.finfo(scores.dtype).min)
        else:
            scores = scores.add_(attention_mask)
    probs = _Dropout.apply(torch.softmax(scores, dim=-1), dropout)
    return torch.matmul(probs, value).transpose(1, 2).contiguous(), None


def _register() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    AttentionInterface.register(ATTENTION, attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(ATTENTION, sdpa_mask)


def use_fast_kernels(model: nn.Module) -> int:
    """Swap every nn.Dropout of `model` for FastDropout and, where it runs SDPA, its attention for `attention`.
    Returns how many dropouts were swapped. The state dict, the outputs in eval mode and on CUDA are unchanged."""
    swapped = 0
    for parent in model.modules():
        for name, child in parent.named_children():
            if type(child) is nn.Dropout:
                setattr(parent, name, FastDropout(child.p, child.inplace))
                swapped += 1
    for sub in model.modules():
        config = getattr(sub, "config", None)
        if config is not None and getattr(config, "_attn_implementation", None) == "sdpa":
            _register()
            config._attn_implementation = ATTENTION
    return swapped
