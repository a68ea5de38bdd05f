"""Stacking: non-negative linear weights over the members, fit by cross-validation on the rows it is given.

The weights solve a non-negative ridge regression of the centred labels on the centred member predictions
(Pearson ignores shift and scale, so an intercept is fit and the weights are rescaled to sum to 1):

    min_w |P_c^T w - y_c|^2 + a |w|^2,  w >= 0      (scipy.optimize.nnls on the stacked system)

The ridge strength `a` (relative to the mean diagonal of the members' Gram matrix) is chosen by K-fold
cross-validation on the same rows: each fold is predicted by the normalised weights fit on the others, and the
strength whose pooled out-of-fold Pearson is best wins (ties: the stronger one). The weights are then refit
on every row. Non-negative weights keep the blend an average (no member is subtracted), which keeps stacking
from chasing noise in correlated members; the honest estimate (ensemble/honest.py) judges it like every method.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import nnls

from trainables.metrics import pearson

ALPHAS = (0.0, 0.01, 0.1, 1.0, 10.0, 100.0)  # relative ridge strengths; at 100 the weights are ~ each
# member's covariance with the labels (clipped at 0), at 0 plain non-negative least squares
CV_FOLDS = 5
MIN_FOLD_ROWS = 3


@dataclass(frozen=True)
class StackingResult:
    weights: np.ndarray  # [K], >= 0, sum 1
    alpha: float  # the chosen relative ridge strength
    cv_pearson: dict[float, float] = field(default_factory=dict)  # strength -> pooled out-of-fold Pearson
    folds: int = 0


def nonnegative_ridge(preds: np.ndarray, labels: np.ndarray, alpha: float) -> np.ndarray:
    """Raw non-negative weights [K] (not normalised) of the centred regression with relative ridge `alpha`."""
    if alpha < 0:
        raise ValueError(f"ridge strength must be >= 0, got {alpha}")
    pc = preds - preds.mean(axis=1, keepdims=True)
    yc = labels - labels.mean()
    k = pc.shape[0]
    scale = float(np.einsum("ij,ij->", pc, pc)) / k  # mean diagonal of the Gram matrix
    a = np.vstack([pc.T, np.sqrt(alpha * scale) * np.eye(k)]) if alpha > 0 else pc.T
    b = np.concatenate([yc, np.zeros(k)]) if alpha > 0 else yc
    weights, _ = nnls(a, b)
    return weights


def _normalised(raw: np.ndarray) -> np.ndarray:
    total = raw.sum()
    if not np.isfinite(total) or total <= 0.0:  # no member helps (all weights 0): the plain mean
        return np.full(raw.shape[0], 1.0 / raw.shape[0])
    return raw / total


def stacking(
    preds: np.ndarray,
    labels: np.ndarray,
    rng: np.random.Generator,
    *,
    alphas: tuple[float, ...] = ALPHAS,
    folds: int = CV_FOLDS,
) -> StackingResult:
    """Non-negative stacking weights, the ridge strength chosen by `folds`-fold cross-validation on these rows."""
    preds = np.asarray(preds, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    if preds.ndim != 2 or labels.ndim != 1 or preds.shape[1] != labels.shape[0] or preds.shape[0] < 1:
        raise ValueError(f"preds must be [K, n] and labels [n]; got {preds.shape} and {labels.shape}")
    if not alphas:
        raise ValueError("stacking needs at least one ridge strength")
    n = labels.shape[0]
    folds = min(folds, n // MIN_FOLD_ROWS)
    scores: dict[float, float] = {}
    if folds >= 2 and len(alphas) > 1:
        fold_of = rng.permutation(n) % folds
        for alpha in alphas:
            oof = np.empty(n)
            for f in range(folds):
                held, fit = fold_of == f, fold_of != f
                # scored as the ensemble is used: the normalised weights' average, no intercept or scale, so
                # the folds' out-of-fold predictions share one scale and pool into one Pearson
                oof[held] = _normalised(nonnegative_ridge(preds[:, fit], labels[fit], alpha)) @ preds[:, held]
            scores[alpha] = pearson(oof, labels)
    # best pooled out-of-fold Pearson; ties (and NaN) go to the stronger ridge, the smoother blend
    best = max(sorted(alphas, reverse=True),
               key=lambda a: scores.get(a, -np.inf) if np.isfinite(scores.get(a, np.nan)) else -np.inf)
    weights = _normalised(nonnegative_ridge(preds, labels, best))
    return StackingResult(weights, float(best), scores, folds if scores else 0)
