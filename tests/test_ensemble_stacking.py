"""ensemble/stacking.py: non-negative weights by cross-validated ridge, judged by the honest estimate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from ensemble_synth import make_experiment

from ensemble import select_cli
from ensemble.honest import holdout_estimate
from ensemble.methods import METHODS, make_method
from ensemble.stacking import nonnegative_ridge, stacking
from trainables.metrics import pearson


def members(noises: list[float], n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.uniform(0.0, 5.0, n)
    return np.vstack([labels + rng.normal(0.0, s, n) for s in noises]), labels


def test_weights_are_nonnegative_sum_to_one_and_favour_the_accurate() -> None:
    preds, labels = members([0.5, 1.0, 2.0, 4.0])
    result = stacking(preds, labels, np.random.default_rng(0))
    w = result.weights
    assert np.all(w >= 0) and w.sum() == pytest.approx(1.0)
    assert w[0] > w[1] > w[2] >= w[3]  # inverse-variance order of independent errors
    assert set(result.cv_pearson) == {0.0, 0.01, 0.1, 1.0, 10.0, 100.0} and result.folds == 5
    assert result.alpha == max(result.cv_pearson, key=lambda a: (result.cv_pearson[a], a))


def test_an_anticorrelated_member_gets_no_weight() -> None:
    preds, labels = members([0.8, 0.8])
    rng = np.random.default_rng(3)
    flipped = 5.0 - labels + rng.normal(0.0, 0.5, len(labels))
    w = stacking(np.vstack([preds, flipped]), labels, rng).weights
    assert w[2] == 0.0 and w[:2].sum() == pytest.approx(1.0)


def test_no_helpful_member_falls_back_to_the_mean() -> None:
    rng = np.random.default_rng(1)
    labels = rng.uniform(0.0, 5.0, 60)
    preds = np.vstack([5.0 - labels, 5.0 - labels + rng.normal(0.0, 0.1, 60)])
    assert stacking(preds, labels, rng).weights.tolist() == [0.5, 0.5]


def test_ridge_shrinks_towards_equal_weights() -> None:
    preds, labels = members([0.6, 0.7, 0.8])
    loose, tight = nonnegative_ridge(preds, labels, 0.0), nonnegative_ridge(preds, labels, 100.0)
    spread = [np.ptp(w / w.sum()) for w in (loose, tight)]
    assert spread[1] < spread[0]
    with pytest.raises(ValueError, match=">= 0"):
        nonnegative_ridge(preds, labels, -1.0)


def test_stacking_beats_the_mean_held_out_when_members_differ_in_quality() -> None:
    preds, labels = members([0.4, 2.5, 3.0, 3.5, 4.0], n=300)
    methods = {n: make_method(n) for n in ("stacking", "mean")}
    held = holdout_estimate(preds, labels, methods, repeats=10, seed=0)
    assert held["stacking"].mean > held["mean"].mean
    assert held["stacking"].optimism < 0.05  # cross-validated: little of its dev score is fit to noise


def test_registered_and_most_complex() -> None:
    entry = METHODS.get("stacking")
    assert entry.meta["simplicity"] > max(METHODS.get(n).meta["simplicity"] for n in METHODS.names()
                                          if n != "stacking")


@pytest.mark.parametrize("noise", [[1.0] * 6, [0.4, 2.5, 3.0, 3.5, 4.0, 4.5]])
def test_method_all_chooses_stacking_only_when_it_wins_held_out(tmp_path: Path, noise: list[float]) -> None:
    synth = make_experiment(tmp_path / "exp", members=6, noise=noise)
    argv = ["--experiment", synth.root, "--holdout-repeats", "10", "--trials", "200", "--ensemble-size", "10"]
    assert select_cli.main([str(v) for v in argv]) == 0
    ens = json.loads((synth.root / "ensemble" / "ensemble.json").read_text())
    best = max(ens["held_out"], key=lambda n: (ens["held_out"][n]["mean"], -METHODS.get(n).meta["simplicity"]))
    assert ens["method"] == best
    assert "stacking" in ens["held_out"] and ens["curves"]["stacking"]["kind"] == "stacking_cv"
    weights = np.array(list(ens["methods"]["stacking"]["weights"].values()))
    assert np.all(weights > 0) and weights.sum() == pytest.approx(1.0)
    if noise[0] < noise[1]:  # one member far better: stacking leans on it
        top = max(ens["methods"]["stacking"]["weights"].items(), key=lambda kv: kv[1])[0]
        assert pearson(synth.dev_preds[synth.trial_ids.index(top)], synth.labels) == max(
            pearson(p, synth.labels) for p in synth.dev_preds)
