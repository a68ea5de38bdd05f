from __future__ import annotations

import numpy as np
import pytest

from ensemble.methods import (
    METHODS,
    greedy_selection,
    make_method,
    mean_vote,
    random_search,
    single_best,
    weighted_vote,
)
from ensemble.metrics import member_pearsons
from trainables.metrics import pearson


def library(k: int = 8, n: int = 200, seed: int = 0, noise: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.uniform(0.0, 5.0, n)
    return y + rng.normal(0.0, noise, (k, n)), y


def test_random_search_returns_its_best_subset_with_equal_weights() -> None:
    preds, y = library()
    result = random_search(preds, y, np.random.default_rng(0), trials=300, chunk_rows=64)
    members = result.weights > 0
    assert 2 <= members.sum() <= preds.shape[0]
    np.testing.assert_allclose(result.weights[members], 1.0 / members.sum())
    assert result.score == pytest.approx(pearson(result.weights @ preds, y), abs=1e-10)
    # The curve is the best-so-far: increasing, ending at the returned score.
    scores = [s for _, s in result.curve]
    assert scores == sorted(scores) and scores[-1] == pytest.approx(result.score)
    assert result.curve[0][0] == 1 and result.curve[-1][0] <= 300


def test_random_search_is_seeded() -> None:
    preds, y = library()
    a = random_search(preds, y, np.random.default_rng(5), trials=200)
    b = random_search(preds, y, np.random.default_rng(5), trials=200)
    np.testing.assert_array_equal(a.weights, b.weights)


def test_random_search_100000_trials_on_20_members_runs() -> None:
    preds, y = library(k=20, n=519)
    result = random_search(preds, y, np.random.default_rng(0), trials=100_000)
    assert result.trials == 100_000
    assert result.score > member_pearsons(preds, y).max()


def test_random_search_single_member() -> None:
    preds, y = library(k=1)
    np.testing.assert_array_equal(random_search(preds, y, np.random.default_rng(0)).weights, [1.0])


def test_greedy_weights_are_counts_over_steps_and_beat_the_best_single() -> None:
    preds, y = library(k=10)
    result = greedy_selection(preds, y, size=25)
    assert result.weights.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(result.weights * result.best_step, np.round(result.weights * result.best_step))
    assert result.score >= member_pearsons(preds, y).max()
    assert result.score == pytest.approx(max(s.score for s in result.curve))
    assert result.init_size in (1, 2, 3)
    assert [s.step for s in result.curve] == list(range(1, 26))


def test_greedy_selects_with_replacement() -> None:
    # One member far better than the rest: the best mix weights it more than once.
    rng = np.random.default_rng(3)
    y = rng.uniform(0, 5, 300)
    preds = np.vstack([y + rng.normal(0, 0.3, 300)] + [y + rng.normal(0, 1.5, 300) for _ in range(4)])
    result = greedy_selection(preds, y, size=20)
    assert result.weights[0] > 1.0 / result.best_step


def test_duplicated_best_member_does_not_inflate_greedy() -> None:
    preds, y = library(k=6)
    best = int(np.argmax(member_pearsons(preds, y)))
    with_copy = np.vstack([preds, preds[best]])
    plain = greedy_selection(preds, y, size=25)
    duplicated = greedy_selection(with_copy, y, size=25)
    assert duplicated.score == pytest.approx(plain.score, abs=1e-12)
    folded = duplicated.weights[:6].copy()
    folded[best] += duplicated.weights[6]
    np.testing.assert_allclose(folded @ preds, plain.weights @ preds, atol=1e-12)


def test_greedy_validates_size() -> None:
    preds, y = library()
    with pytest.raises(ValueError, match="--ensemble-size"):
        greedy_selection(preds, y, size=0)


def test_weighted_vote_is_proportional_to_pearson_and_drops_negatives() -> None:
    preds, y = library(k=4)
    preds[3] = -preds[3]
    w = weighted_vote(preds, y)
    r = member_pearsons(preds, y)
    assert w[3] == 0.0
    np.testing.assert_allclose(w[:3], r[:3] / r[:3].sum())


def test_weighted_vote_falls_back_to_mean_without_positive_members() -> None:
    preds, y = library(k=3)
    np.testing.assert_allclose(weighted_vote(-preds, y), np.full(3, 1 / 3))


def test_mean_and_single() -> None:
    preds, y = library(k=5)
    np.testing.assert_allclose(mean_vote(preds, y), np.full(5, 0.2))
    single = single_best(preds, y)
    assert single.sum() == 1.0 and single[int(np.argmax(member_pearsons(preds, y)))] == 1.0


@pytest.mark.parametrize("name", METHODS.names())
def test_every_method_is_a_pure_weights_function(name: str) -> None:
    preds, y = library()
    method = make_method(name, trials=100, ensemble_size=10)
    a = method(preds, y, np.random.default_rng(1))
    b = method(preds, y, np.random.default_rng(1))
    assert a.shape == (preds.shape[0],) and a.sum() == pytest.approx(1.0) and (a >= 0).all()
    np.testing.assert_array_equal(a, b)


def test_make_method_rejects_unknown_name() -> None:
    with pytest.raises(ValueError, match="method='bagging': allowed values are random, greedy"):
        make_method("bagging")
