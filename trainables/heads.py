"""Pooling heads of the regressor, registered by name (`head` in the trial config).

A head is a pooling function (token states [B, T, H], attention mask [B, T], index of the first [SEP] [B])
-> [B, width * H]; `width` in its registration says how many hidden vectors it concatenates. The regression
net on top (dropout -> dense -> tanh -> dropout -> linear) is the same for every head.
"""

from __future__ import annotations

import torch
from torch import nn

from trainables.registry import HEADS


@HEADS.register("cls", width=1)
def cls_pool(h: torch.Tensor, mask: torch.Tensor, sep_index: torch.Tensor) -> torch.Tensor:
    return h[:, 0]


def _sep(h: torch.Tensor, sep_index: torch.Tensor) -> torch.Tensor:
    return h[torch.arange(h.size(0), device=h.device), sep_index]


@HEADS.register("cls_sep_concat", width=2)
def cls_sep_concat_pool(h: torch.Tensor, mask: torch.Tensor, sep_index: torch.Tensor) -> torch.Tensor:
    return torch.cat([h[:, 0], _sep(h, sep_index)], dim=-1)


@HEADS.register("cls_sep_add", width=1)
def cls_sep_add_pool(h: torch.Tensor, mask: torch.Tensor, sep_index: torch.Tensor) -> torch.Tensor:
    return h[:, 0] + _sep(h, sep_index)


@HEADS.register("mean", width=1)
def mean_pool(h: torch.Tensor, mask: torch.Tensor, sep_index: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).to(h.dtype)
    return (h * m).sum(1) / m.sum(1).clamp_min(1.0)


class RegressionHead(nn.Module):
    """Pool the token states, then dropout -> dense -> tanh -> dropout -> linear to one score."""

    def __init__(self, kind: str, hidden: int, dropout: float) -> None:
        super().__init__()
        entry = HEADS.get(kind)
        self.kind = kind
        self._pool = entry.build
        width = int(entry.meta.get("width", 1)) * hidden
        self.net = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(width, hidden), nn.Tanh(), nn.Dropout(dropout), nn.Linear(hidden, 1)
        )

    def pool(self, h: torch.Tensor, mask: torch.Tensor, sep_index: torch.Tensor) -> torch.Tensor:
        return self._pool(h, mask, sep_index)

    def forward(self, h: torch.Tensor, mask: torch.Tensor, sep_index: torch.Tensor) -> torch.Tensor:
        return self.net(self.pool(h, mask, sep_index)).squeeze(-1)
