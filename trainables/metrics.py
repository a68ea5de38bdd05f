"""Metrics over a whole split (never averaged over batches: that would make them depend on batch size)."""

from __future__ import annotations

import numpy as np


def pearson(pred: np.ndarray, target: np.ndarray) -> float:
    """Pearson r; 0.0 for a constant prediction (a collapsed model), never NaN, so schedulers can rank it."""
    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    if p.shape != t.shape or p.ndim != 1:
        raise ValueError(f"pearson: prediction shape {p.shape} and target shape {t.shape} must be equal and 1-D")
    if not np.all(np.isfinite(p)):
        return 0.0
    pc, tc = p - p.mean(), t - t.mean()
    denom = np.sqrt((pc * pc).sum() * (tc * tc).sum())
    return float((pc * tc).sum() / denom) if denom > 0 else 0.0
