"""The metric and what "best" means, defined once for the trainer, the search, the results, ensemble and report.

Pearson is computed over a whole split, never averaged over batches (that would make it depend on the batch
size, which is itself tuned). Every place that ranks trials or checkpoints goes through `score_key`, so a NaN
(a collapsed model, a trial that never validated) ranks last everywhere and `MODE` is honoured everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

METRIC = "val_pearson"  # what every trial reports at each validation and every ranking sorts by
MODE = "max"

_SIGN = 1.0 if MODE == "max" else -1.0


def pearson(pred: np.ndarray, target: np.ndarray) -> float:
    """Pearson r of two equal-length 1-D arrays.

    NaN when it is undefined: either side constant (a collapsed model predicting one value), fewer than two
    rows, or a non-finite value. NaN is the honest answer; callers that need a number (a scheduler comparing
    trials) decide explicitly what to put in its place, and `score_key` ranks NaN last.
    """
    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    if p.shape != t.shape or p.ndim != 1:
        raise ValueError(f"pearson: prediction shape {p.shape} and target shape {t.shape} must be equal and 1-D")
    if p.size < 2 or not (np.all(np.isfinite(p)) and np.all(np.isfinite(t))):
        return float("nan")
    pc, tc = p - p.mean(), t - t.mean()
    denom = math.sqrt(float(pc @ pc)) * math.sqrt(float(tc @ tc))
    return float((pc @ tc) / denom) if denom > 0 else float("nan")


def score_key(value: float | None) -> float:
    """Sort key of one metric value: larger is better whatever MODE is; NaN/None is the worst of all."""
    if value is None:
        return -math.inf
    v = float(value)
    return -math.inf if math.isnan(v) else _SIGN * v


def score_keys(values: np.ndarray | Sequence[float]) -> np.ndarray:
    """`score_key` over an array: larger is better, NaN -> -inf (so it loses every argmax)."""
    v = np.asarray(values, dtype=np.float64)
    return np.where(np.isnan(v), -np.inf, _SIGN * v)


def is_better(candidate: float | None, incumbent: float | None) -> bool:
    """Strictly better under MODE (ties keep the incumbent: the earlier checkpoint stays)."""
    return score_key(candidate) > score_key(incumbent)


def best_position(values: np.ndarray | Sequence[float]) -> int | None:
    """Index of the best value (first of ties), or None when no value is a number."""
    keys = score_keys(values)
    if not len(keys) or not np.isfinite(keys).any():
        return None
    return int(np.argmax(keys))


def rank(board: pd.DataFrame, column: str = METRIC) -> pd.DataFrame:
    """Rows best first by `column` (NaN last, ties in their original order), index reset."""
    order = np.argsort(-score_keys(board[column].to_numpy(dtype=np.float64)), kind="stable")
    return board.iloc[order].reset_index(drop=True)
