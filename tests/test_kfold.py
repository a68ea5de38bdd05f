"""trainables/kfold.py: a config on every fold is one candidate (out-of-fold dev rows, fold-mean test)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from searchkit import write_micro_space

from ensemble import predict, select_cli
from trainables.config import ConfigError
from trainables.inference import load_checkpoint
from trainables.kfold import FOLDS_FILE, fold_dirs, train_all_folds
from trainables.metrics import pearson
from trainables.pipeline import prepare_data

POOL_ROWS = 320 + 96  # small_data: train + dev, re-split into folds


class Keep:
    def __init__(self, out: Path) -> None:
        self.out, self.calls = out, []

    def on_validation(self, metrics, improved, write_checkpoint) -> None:
        self.calls.append((dict(metrics), improved))
        if improved:
            write_checkpoint(self.out)


def test_config_takes_all_folds_only_with_folds(micro_config) -> None:
    assert micro_config(num_folds=3, fold=-1).fold == -1
    with pytest.raises(ConfigError, match="needs num_folds >= 2"):
        micro_config(fold=-1)
    with pytest.raises(ConfigError, match="every fold as one candidate"):
        micro_config(num_folds=3, fold=-2)
    assert len(prepare_data(micro_config(num_folds=3, fold=-1)).dev) < POOL_ROWS  # the driver prepares the pool


def unit(micro_config, small_data, out: Path, **kw) -> tuple[Keep, dict]:
    cfg = micro_config(num_folds=3, fold=-1, test_path=str(small_data["test"]), limit_train_batches=2,
                       hidden_dropout=0.0, **kw)
    keep = Keep(out)
    return keep, train_all_folds(cfg, keep)


def test_a_unit_covers_every_row_out_of_fold_and_averages_test(micro_config, small_data, tmp_path) -> None:
    keep, metrics = unit(micro_config, small_data, tmp_path / "unit")
    assert len(keep.calls) == 1 and keep.calls[0][1] is True  # reported once, as one candidate
    oof = pd.read_csv(tmp_path / "unit" / "dev_predictions.csv")
    assert len(oof) == POOL_ROWS and oof["id"].is_unique
    train_ids = set(pd.read_csv(small_data["train"])["id"]) | set(pd.read_csv(small_data["dev"])["id"])
    assert set(oof["id"]) == train_ids
    assert metrics["val_pearson"] == pytest.approx(pearson(oof["prediction"].to_numpy(), oof["label"].to_numpy()))
    assert len(metrics["fold_val_pearson"]) == 3 and metrics["epoch"] == 1.0

    folds = fold_dirs(tmp_path / "unit")
    assert [f.name for f in folds] == ["fold_0", "fold_1", "fold_2"]
    # each fold's own dev rows are exactly its slice of the out-of-fold file
    for f in folds:
        own = pd.read_csv(f / "dev_predictions.csv").set_index("id")
        np.testing.assert_allclose(oof.set_index("id").loc[own.index, "prediction"], own["prediction"])
    test = pd.read_csv(tmp_path / "unit" / "test_predictions.csv")
    fold_tests = [pd.read_csv(f / "test_predictions.csv")["prediction"].to_numpy() for f in folds]
    np.testing.assert_allclose(test["prediction"], np.mean(fold_tests, axis=0))
    # predicting with the unit checkpoint is the mean of its fold models
    table = pd.read_csv(small_data["test"])
    np.testing.assert_allclose(load_checkpoint(tmp_path / "unit").predict(table), test["prediction"],
                               rtol=1e-4, atol=1e-5)


def test_units_are_selected_on_out_of_fold_rows_and_predicted(micro_config, small_data, tmp_path) -> None:
    exp = tmp_path / "exp"
    rows = []
    for i, lr in enumerate((1e-3, 3e-3)):
        _, metrics = unit(micro_config, small_data, exp / f"t{i}" / "checkpoint", lr=lr, seed=i)
        rows.append({"trial_id": f"t{i}", "val_pearson": metrics["val_pearson"],
                     "checkpoint": str(exp / f"t{i}" / "checkpoint")})
    pd.DataFrame(rows).to_csv(exp / "leaderboard.csv", index=False)
    out = tmp_path / "ens"
    argv = ["--experiment", str(exp), "--output", str(out), "--method", "mean", "--holdout-repeats", "5"]
    assert select_cli.main(argv) == 0
    ens = json.loads((out / "ensemble.json").read_text())
    assert ens["n_dev"] == POOL_ROWS  # selected on every train+dev row, out of fold
    preds = tmp_path / "preds.csv"
    assert predict.main(["--ensemble", str(out / "ensemble.json"), "--input", str(small_data["test"]),
                         "--output", str(preds)]) == 0
    submission = pd.read_csv(out / "submission.csv")
    np.testing.assert_allclose(pd.read_csv(preds)["target"], submission["target"], rtol=1e-4, atol=1e-5)


def test_train_cli_runs_every_fold(micro_config, micro_backbone, small_data, tmp_path) -> None:
    from trainables import train as train_cli
    from trainables.training import train

    with pytest.raises(ValueError, match="train_all_folds"):
        train(micro_config(num_folds=3, fold=-1))
    space = write_micro_space(tmp_path / "s.yaml", micro_backbone, small_data, batches=2, max_epochs=1)
    out = tmp_path / "out"
    assert train_cli.main(["--space", str(space), "--output", str(out), "--set", "num_folds=2",
                           "--set", "fold=-1"]) == 0
    assert (out / "best" / FOLDS_FILE).is_file() and "fold_val_pearson" in json.loads((out / "result.json").read_text())


@pytest.mark.slow
def test_a_search_of_units(tmp_path, micro_backbone, small_data) -> None:
    from tune import search

    space = write_micro_space(tmp_path / "s.yaml", micro_backbone, small_data, batches=2, num_folds=2, fold=-1)
    rc = search.main(["--space", str(space), "--storage", str(tmp_path / "store"), "--name", "u", "--num-cpus", "2",
                      "--verbose", "0", "--num-samples", "2", "--max-epochs", "1", "--scheduler", "fifo"])
    assert rc == 0
    board = pd.read_csv(tmp_path / "store" / "u" / "leaderboard.csv")
    assert len(board) == 2 and board["checkpoint"].notna().all()
    for ckpt in board["checkpoint"]:
        assert (Path(ckpt) / FOLDS_FILE).is_file()
        assert len(pd.read_csv(Path(ckpt) / "dev_predictions.csv")) == POOL_ROWS
    assert select_cli.main(["--experiment", str(tmp_path / "store" / "u"), "--holdout-repeats", "5",
                            "--trials", "50", "--ensemble-size", "5"]) == 0


def test_a_unit_records_its_prediction_files_and_a_cut_one_is_named(micro_config, small_data, tmp_path) -> None:
    from ensemble.verify import problem

    unit(micro_config, small_data, tmp_path / "unit")
    meta = json.loads((tmp_path / "unit" / "meta.json").read_text())
    assert meta["predictions"]["dev_predictions.csv"]["rows"] == POOL_ROWS
    files = {"dev": "dev_predictions.csv", "test": "test_predictions.csv"}
    assert problem(tmp_path / "unit", files, {}) is None
    oof = tmp_path / "unit" / "dev_predictions.csv"
    lines = oof.read_text().splitlines(keepends=True)
    oof.write_text("".join(lines[: len(lines) // 2]))  # cut at a line boundary: still a valid CSV
    found = problem(tmp_path / "unit", files, {})
    assert found and "dev_predictions.csv" in found and "cut short" in found
