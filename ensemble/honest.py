"""Honest estimate of a selection method: select on a random half of dev, score on the other half.

The dev Pearson of the ensemble chosen on the full dev set is optimistic (the same rows picked the members
and score them). Repeating the selection on random halves and scoring on the unseen half measures how much
of that score survives; the gap is the method's optimism. Each method must be a pure
`(preds, labels, rng) -> weights` function so the halves run exactly the code that picks the final ensemble.

Not covered: the top-K trials themselves were ranked, and early-stopped, on the full dev set by the search,
so even the held-out numbers keep that (smaller, shared) optimism.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field

import numpy as np

from ensemble.methods import Method
from trainables.metrics import pearson

MIN_HALF = 3  # Pearson on fewer rows is meaningless


@dataclass(frozen=True)
class HeldOut:
    method: str
    held_out: list[float] = field(default_factory=list)  # per repeat: Pearson on the unseen half
    selection: list[float] = field(default_factory=list)  # per repeat: Pearson on the half it selected on
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if len(self.held_out) != len(self.selection):
            raise ValueError(
                f"{self.method}: {len(self.held_out)} held-out scores but {len(self.selection)} selection"
            )

    @property
    def mean(self) -> float:
        return _nanmean(self.held_out)

    @property
    def sd(self) -> float:
        values = np.asarray(self.held_out, dtype=np.float64)
        values = values[np.isfinite(values)]
        return float(values.std(ddof=1)) if values.size > 1 else 0.0

    @property
    def selection_mean(self) -> float:
        return _nanmean(self.selection)

    @property
    def optimism(self) -> float:
        """Mean over repeats of (score on the selection half - score on the held-out half)."""
        return _nanmean(np.asarray(self.selection) - np.asarray(self.held_out))

    def to_dict(self) -> dict[str, object]:
        return {
            "mean": self.mean,
            "sd": self.sd,
            "selection_mean": self.selection_mean,
            "optimism": self.optimism,
            "repeats": len(self.held_out),
            "held_out": list(self.held_out),
            "seconds": self.seconds,
        }


def _nanmean(values: object) -> float:
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    return float(arr.mean()) if arr.size else float("nan")


def method_rng(seed: int, method: str, repeat: int) -> np.random.Generator:
    """A stream per (seed, method, repeat): adding or removing a method never changes another's draws."""
    return np.random.default_rng([seed, zlib.crc32(method.encode()), repeat])


def split_halves(n: int, repeats: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """`repeats` random (selection, held-out) index splits of n rows into halves."""
    if n < 2 * MIN_HALF:
        raise ValueError(
            f"the honest estimate needs at least {2 * MIN_HALF} dev rows, got {n}; "
            "pass --holdout-repeats 0 to skip it"
        )
    rng = np.random.default_rng([seed, zlib.crc32(b"halves")])
    splits = []
    for _ in range(repeats):
        perm = rng.permutation(n)
        splits.append((np.sort(perm[: n // 2]), np.sort(perm[n // 2 :])))
    return splits


def holdout_estimate(
    preds: np.ndarray,
    labels: np.ndarray,
    methods: dict[str, Method],
    *,
    repeats: int = 50,
    seed: int = 0,
) -> dict[str, HeldOut]:
    """Held-out Pearson of every method over the same `repeats` random dev halves (paired comparison)."""
    if repeats < 1:
        raise ValueError(f"--holdout-repeats must be >= 1 for an honest estimate, got {repeats}")
    if preds.ndim != 2 or preds.shape[1] != labels.shape[0]:
        raise ValueError(f"preds must be [K, n] and labels [n]; got {preds.shape} and {labels.shape}")
    splits = split_halves(labels.shape[0], repeats, seed)
    results: dict[str, HeldOut] = {}
    for name, method in methods.items():
        start = time.perf_counter()
        held, sel = [], []
        for r, (a, b) in enumerate(splits):
            weights = method(preds[:, a], labels[a], method_rng(seed, name, r + 1))
            sel.append(pearson(weights @ preds[:, a], labels[a]))
            held.append(pearson(weights @ preds[:, b], labels[b]))
        results[name] = HeldOut(name, held, sel, time.perf_counter() - start)
    return results
