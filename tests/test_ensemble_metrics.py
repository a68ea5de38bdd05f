from __future__ import annotations

import numpy as np
import pytest

from ensemble.metrics import GramStats, member_pearsons, nan_to_worst
from trainables.metrics import pearson


def test_gram_score_equals_direct_pearson_of_weighted_means() -> None:
    rng = np.random.default_rng(1)
    y = rng.uniform(0, 5, 80)
    preds = y + rng.normal(size=(6, 80))
    weights = rng.integers(0, 3, size=(40, 6)).astype(float)
    weights[0] = 0.0
    weights[0, 2] = 1.0  # a single member
    weights = weights[weights.sum(axis=1) > 0]
    scores = GramStats.from_arrays(preds, y).score(weights)
    direct = [pearson((w / w.sum()) @ preds, y) for w in weights]
    np.testing.assert_allclose(scores, direct, atol=1e-10)


def test_gram_score_nan_for_constant_ensemble() -> None:
    y = np.arange(6.0)
    preds = np.vstack([np.full(6, 1.0), y])
    scores = GramStats.from_arrays(preds, y).score(np.eye(2))
    assert np.isnan(scores[0]) and scores[1] == pytest.approx(1.0)
    assert nan_to_worst(scores)[0] == -np.inf


def test_member_pearsons() -> None:
    y = np.array([0.0, 1.0, 2.0, 3.0])
    preds = np.vstack([y, -y])
    np.testing.assert_allclose(member_pearsons(preds, y), [1.0, -1.0])


def test_gram_stats_validates_shapes() -> None:
    with pytest.raises(ValueError, match=r"\[K, n\]"):
        GramStats.from_arrays(np.ones((2, 3)), np.ones(4))
