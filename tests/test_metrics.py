"""The one metric definition: Pearson over a whole split, and the one ranking every stage uses."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from trainables.metrics import METRIC, MODE, best_position, is_better, pearson, rank, score_key


def test_epoch_pearson_differs_from_a_mean_of_batch_pearsons():
    # two batches, each perfectly correlated inside, but offset against each other:
    # per-batch r = 1.0 for both (mean 1.0), while over the whole set the offsets break the correlation.
    y = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    p = np.array([3.0, 3.1, 3.2, 0.0, 0.1, 0.2])
    batch_mean = np.mean([pearson(p[:3], y[:3]), pearson(p[3:], y[3:])])
    whole = pearson(p, y)
    assert batch_mean == pytest.approx(1.0)
    assert whole < 0
    assert whole == pytest.approx(np.corrcoef(p, y)[0, 1])


def test_pearson_matches_numpy():
    rng = np.random.default_rng(0)
    y = rng.normal(size=50)
    p = y + rng.normal(size=50)
    assert pearson(p, y) == pytest.approx(np.corrcoef(p, y)[0, 1], abs=1e-12)


def test_undefined_pearson_is_nan():
    # constant prediction (a collapsed model), constant labels, non-finite values, a single row
    assert math.isnan(pearson(np.ones(5), np.arange(5.0)))
    assert math.isnan(pearson(np.arange(5.0), np.ones(5)))
    assert math.isnan(pearson(np.array([np.nan, 1.0, 2.0]), np.arange(3.0)))
    assert math.isnan(pearson(np.array([np.inf, 1.0, 2.0]), np.arange(3.0)))
    assert math.isnan(pearson(np.ones(1), np.ones(1)))


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="must be equal"):
        pearson(np.ones(3), np.ones(4))


def test_best_is_max_of_val_pearson_and_nan_ranks_last():
    assert (METRIC, MODE) == ("val_pearson", "max")
    assert is_better(0.5, 0.4) and not is_better(0.4, 0.5)
    assert not is_better(0.5, 0.5)  # a tie keeps the incumbent
    assert is_better(-0.9, float("nan")) and not is_better(float("nan"), -0.9)
    assert is_better(0.1, None)
    assert score_key(float("nan")) == -math.inf
    assert best_position([0.2, float("nan"), 0.7, 0.7]) == 2
    assert best_position([float("nan")]) is None and best_position([]) is None


def test_rank_sorts_best_first_nan_last_and_is_stable():
    board = pd.DataFrame({"trial_id": list("abcde"), METRIC: [0.1, float("nan"), 0.9, 0.1, -0.2]})
    assert rank(board)["trial_id"].tolist() == ["c", "a", "d", "e", "b"]
    assert rank(board).index.tolist() == [0, 1, 2, 3, 4]
