"""Heads of the regressor, registered by name (`head` in the trial config).

A cross-encoder head is a pooling function (token states [B, T, H], attention mask [B, T], index of the first
[SEP] [B]) -> [B, width * H]; `width` in its registration says how many hidden vectors it concatenates. The
regression net on top (dropout -> dense -> tanh -> dropout -> linear) is the same for every such head.

A bi-encoder head (`separate_sentences=True`) is a module of its own that gets both sentences' token states,
each encoded alone and stacked ([2B, T, H]: first sentences, then second sentences).
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


@HEADS.register("bi_cosine", separate_sentences=True)
class BiCosineHead(nn.Module):
    """Bi-encoder head: mean-pool each sentence (encoded alone), cosine of the two, mapped to 0-5.

    The map `scale * cos + shift` is learnable; it starts by sending cos 0.5 -> 0 and cos 1 -> 5, since
    pretrained sentence encoders (e5) put unrelated sentences around cos 0.7 and paraphrases near 1.
    """

    kind = "bi_cosine"

    def __init__(self, hidden: int = 0, dropout: float = 0.0) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(10.0))
        self.shift = nn.Parameter(torch.tensor(-5.0))

    def forward(self, h: torch.Tensor, mask: torch.Tensor, sep_index: torch.Tensor) -> torch.Tensor:
        if h.size(0) % 2:
            raise ValueError(
                f"bi_cosine head: expected first and second sentences stacked (an even number of rows), "
                f"got {h.size(0)}: encode the data with separate sentences"
            )
        pooled = mean_pool(h, mask, sep_index)
        a, b = pooled.float().chunk(2)
        return torch.nn.functional.cosine_similarity(a, b, dim=-1) * self.scale + self.shift


def make_head(kind: str, hidden: int, dropout: float) -> nn.Module:
    """The head module for `kind`: its own module for bi-encoder heads, else pooling + the regression net."""
    entry = HEADS.get(kind)
    if entry.meta.get("separate_sentences"):
        return entry.build(hidden, dropout)
    return RegressionHead(kind, hidden, dropout)
