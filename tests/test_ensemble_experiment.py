from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ensemble_synth import make_experiment

from ensemble.experiment import ExperimentError, load_experiment


def test_loads_top_k_by_val_pearson(tmp_path: Path) -> None:
    synth = make_experiment(tmp_path, members=6)
    loaded = load_experiment(tmp_path, top_k=4)
    lib = loaded.library
    assert lib.size == 4 and loaded.available == 6
    scores = [m.val_pearson for m in lib.members]
    assert scores == sorted(scores, reverse=True)
    order = [synth.trial_ids.index(m.trial_id) for m in lib.members]
    np.testing.assert_allclose(lib.dev_preds, synth.dev_preds[order])
    np.testing.assert_allclose(lib.labels, synth.labels)
    assert list(lib.test_ids) == synth.test_ids  # test-file order kept


def test_rows_in_another_order_are_aligned_by_id(tmp_path: Path) -> None:
    synth = make_experiment(tmp_path, members=3)
    path = synth.checkpoint("trial_002") / "dev_predictions.csv"
    frame = pd.read_csv(path, dtype={"id": str})
    frame.iloc[::-1].to_csv(path, index=False)
    lib = load_experiment(tmp_path).library
    i = [m.trial_id for m in lib.members].index("trial_002")
    np.testing.assert_allclose(lib.dev_preds[i], synth.dev_preds[2])


def test_differing_ids_name_the_trial(tmp_path: Path) -> None:
    synth = make_experiment(tmp_path, members=3)
    best, worst = synth.ranked[0], synth.ranked[-1]
    path = synth.checkpoint(worst) / "dev_predictions.csv"
    frame = pd.read_csv(path, dtype={"id": str})
    frame.loc[5, "id"] = "dev-other"
    frame.to_csv(path, index=False)
    with pytest.raises(
        ExperimentError, match=rf"trial {worst}: ids in .*dev_predictions.csv differ from trial {best}"
    ):
        load_experiment(tmp_path)


def test_differing_test_ids_name_the_trial(tmp_path: Path) -> None:
    synth = make_experiment(tmp_path, members=3)
    worst = synth.ranked[-1]
    path = synth.checkpoint(worst) / "test_predictions.csv"
    pd.read_csv(path, dtype={"id": str}).iloc[:-1].to_csv(path, index=False)
    with pytest.raises(ExperimentError, match=rf"trial {worst}: ids in .*test_predictions.csv differ"):
        load_experiment(tmp_path)


def test_missing_dev_predictions_name_the_trial(tmp_path: Path) -> None:
    synth = make_experiment(tmp_path, members=3)
    (synth.checkpoint("trial_002") / "dev_predictions.csv").unlink()
    with pytest.raises(ExperimentError, match=r"trial trial_002: missing dev_predictions\.csv"):
        load_experiment(tmp_path)


def test_missing_checkpoint_directory_names_the_trial(tmp_path: Path) -> None:
    synth = make_experiment(tmp_path, members=2)
    for f in synth.checkpoint("trial_001").iterdir():
        f.unlink()
    synth.checkpoint("trial_001").rmdir()
    with pytest.raises(ExperimentError, match=r"trial trial_001: checkpoint directory .* does not exist"):
        load_experiment(tmp_path)


def test_test_predictions_of_only_some_members_name_the_others(tmp_path: Path) -> None:
    synth = make_experiment(tmp_path, members=3)
    (synth.checkpoint(synth.ranked[0]) / "test_predictions.csv").unlink()
    with pytest.raises(ExperimentError, match=rf"trial\(s\) {synth.ranked[0]} have no test_predictions.csv"):
        load_experiment(tmp_path)


def test_no_test_predictions_at_all_is_fine(tmp_path: Path) -> None:
    make_experiment(tmp_path, members=3, n_test=None)
    lib = load_experiment(tmp_path).library
    assert not lib.has_test and lib.test_ids is None


def test_rows_without_checkpoint_are_skipped(tmp_path: Path) -> None:
    extra = [
        {
            "trial_id": "trial_err",
            "val_pearson": None,
            "best_epoch": None,
            "epochs_run": 0,
            "status": "ERROR",
            "seconds": 1.0,
            "checkpoint": "",
            "config/lr": 1e-4,
        }
    ]
    make_experiment(tmp_path, members=3, extra_rows=extra)
    loaded = load_experiment(tmp_path, top_k=10)
    assert loaded.skipped == ["trial_err"]
    assert loaded.library.size == 3


def test_non_numeric_prediction_names_trial_and_column(tmp_path: Path) -> None:
    synth = make_experiment(tmp_path, members=2)
    path = synth.checkpoint("trial_000") / "dev_predictions.csv"
    frame = pd.read_csv(path, dtype={"id": str})
    frame["prediction"] = frame["prediction"].astype(object)
    frame.loc[7, "prediction"] = ""
    frame.to_csv(path, index=False)
    with pytest.raises(
        ExperimentError, match=r"trial trial_000: .* column 'prediction' .* at id 'dev-00007'"
    ):
        load_experiment(tmp_path)


def test_disagreeing_labels_name_the_trial(tmp_path: Path) -> None:
    synth = make_experiment(tmp_path, members=2)
    weaker = synth.ranked[-1]
    path = synth.checkpoint(weaker) / "dev_predictions.csv"
    frame = pd.read_csv(path, dtype={"id": str})
    frame.loc[4, "label"] += 1.0
    frame.to_csv(path, index=False)
    with pytest.raises(ExperimentError, match=f"trial {weaker}: label of id 'dev-00004'"):
        load_experiment(tmp_path)


def test_leaderboard_errors(tmp_path: Path) -> None:
    with pytest.raises(ExperimentError, match=r"leaderboard\.csv not found"):
        load_experiment(tmp_path)
    make_experiment(tmp_path, members=2)
    with pytest.raises(ExperimentError, match="--top-k must be >= 1"):
        load_experiment(tmp_path, top_k=0)
    board = pd.read_csv(tmp_path / "leaderboard.csv")
    board.drop(columns=["checkpoint"]).to_csv(tmp_path / "leaderboard.csv", index=False)
    with pytest.raises(ExperimentError, match="lacks column"):
        load_experiment(tmp_path)


def test_no_checkpoint_at_all(tmp_path: Path) -> None:
    pd.DataFrame({"rank": [1], "trial_id": ["t"], "val_pearson": [""], "checkpoint": [""]}).to_csv(
        tmp_path / "leaderboard.csv", index=False
    )
    with pytest.raises(ExperimentError, match=r"no trial .* has a checkpoint"):
        load_experiment(tmp_path)
