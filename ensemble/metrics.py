"""Pearson correlation of many weighted ensembles at once, via a Gram matrix (one vector: trainables.metrics).

The Gram form is what makes subset search cheap: for members P (K x n, centred per row) and centred labels y,
the Pearson of any weighted mean w @ P is (w . b) / (sqrt(w^T G w) * |y|) with b = P y and G = P P^T.
The 1/sum(w) scale cancels, so scoring an ensemble costs O(K^2) instead of O(K n), whatever the dev size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def member_pearsons(preds: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Pearson r of every row of preds [K, n] against labels [n] (NaN for constant rows)."""
    return GramStats.from_arrays(preds, labels).score(np.eye(preds.shape[0]))


@dataclass(frozen=True)
class GramStats:
    """Sufficient statistics to score any weighted ensemble of fixed members against fixed labels."""

    b: np.ndarray  # [K] centred members . centred labels
    gram: np.ndarray  # [K, K] centred members' inner products
    y_norm: float  # |centred labels|

    def __post_init__(self) -> None:
        k = self.b.shape[0]
        if self.b.ndim != 1 or self.gram.shape != (k, k):
            raise ValueError(
                f"GramStats: b has shape {self.b.shape}, gram {self.gram.shape}; expected [K], [K, K]"
            )

    @classmethod
    def from_arrays(cls, preds: np.ndarray, labels: np.ndarray) -> GramStats:
        p = np.asarray(preds, dtype=np.float64)
        y = np.asarray(labels, dtype=np.float64)
        if p.ndim != 2 or y.ndim != 1 or p.shape[1] != y.shape[0]:
            raise ValueError(f"preds must be [K, n] and labels [n]; got {p.shape} and {y.shape}")
        pc = p - p.mean(axis=1, keepdims=True)
        yc = y - y.mean()
        return cls(b=pc @ yc, gram=pc @ pc.T, y_norm=float(np.sqrt(yc @ yc)))

    @property
    def size(self) -> int:
        return int(self.b.shape[0])

    def score(self, weights: np.ndarray) -> np.ndarray:
        """Pearson of each row of weights [N, K] (any positive scale); NaN where the ensemble is constant."""
        w = np.asarray(weights, dtype=np.float64)
        num = w @ self.b
        # Row-wise w^T G w without forming an N x N matrix.
        var = np.einsum("ij,ij->i", w @ self.gram, w)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = num / (np.sqrt(np.maximum(var, 0.0)) * self.y_norm)
        r[~(var > 0.0)] = np.nan
        if self.y_norm == 0.0:
            r[:] = np.nan
        return r


def nan_to_worst(scores: np.ndarray) -> np.ndarray:
    """Make NaN scores lose every argmax (a constant ensemble carries no signal)."""
    return np.where(np.isnan(scores), -np.inf, scores)
