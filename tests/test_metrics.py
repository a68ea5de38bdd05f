from __future__ import annotations

import numpy as np
import pytest

from trainables.metrics import pearson


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


def test_constant_prediction_scores_zero_not_nan():
    assert pearson(np.ones(5), np.arange(5.0)) == 0.0
    assert pearson(np.array([np.nan, 1.0, 2.0]), np.arange(3.0)) == 0.0


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="must be equal"):
        pearson(np.ones(3), np.ones(4))
