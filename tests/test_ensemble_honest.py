from __future__ import annotations

import numpy as np
import pytest

from ensemble.honest import HeldOut, holdout_estimate, split_halves
from ensemble.methods import make_method


def library(k: int = 12, n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.uniform(0.0, 5.0, n)
    return y + rng.normal(0.0, 1.5, (k, n)), y


def test_halves_partition_the_rows() -> None:
    for a, b in split_halves(11, repeats=5, seed=0):
        assert len(a) == 5 and len(b) == 6
        np.testing.assert_array_equal(np.sort(np.r_[a, b]), np.arange(11))


def test_estimate_is_seeded_and_paired() -> None:
    preds, y = library()
    methods = {n: make_method(n, trials=200, ensemble_size=10) for n in ("random", "mean", "single")}
    a = holdout_estimate(preds, y, methods, repeats=10, seed=3)
    b = holdout_estimate(preds, y, methods, repeats=10, seed=3)
    assert {n: h.held_out for n, h in a.items()} == {n: h.held_out for n, h in b.items()}
    assert all(len(h.held_out) == 10 for h in a.values())


def test_picking_the_best_single_is_optimistic_the_plain_mean_is_not() -> None:
    # Twelve equally good members: whichever looks best on one half is best by luck.
    preds, y = library()
    methods = {n: make_method(n) for n in ("mean", "single")}
    held = holdout_estimate(preds, y, methods, repeats=40, seed=0)
    assert held["single"].optimism > 0.01
    assert abs(held["mean"].optimism) < held["single"].optimism
    assert held["mean"].mean > held["single"].mean


def test_held_out_summary() -> None:
    h = HeldOut("x", held_out=[0.8, 0.9], selection=[0.9, 0.95])
    assert h.mean == pytest.approx(0.85)
    assert h.sd == pytest.approx(np.std([0.8, 0.9], ddof=1))
    assert h.optimism == pytest.approx(0.075)
    assert set(h.to_dict()) >= {"mean", "sd", "selection_mean", "optimism", "repeats", "held_out"}


def test_held_out_checks_lengths() -> None:
    with pytest.raises(ValueError, match="2 held-out scores but 1"):
        HeldOut("x", held_out=[0.8, 0.9], selection=[0.9])


def test_too_few_rows_or_repeats() -> None:
    preds, y = library(n=5)
    methods = {"mean": make_method("mean")}
    with pytest.raises(ValueError, match="at least 6 dev rows"):
        holdout_estimate(preds, y, methods, repeats=3)
    with pytest.raises(ValueError, match="--holdout-repeats must be >= 1"):
        holdout_estimate(preds, y, methods, repeats=0)
