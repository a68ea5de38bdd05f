"""Make a `trainables/train.py` output folder a one-trial experiment (docs/experiment-format.md).

The folder gets the search's files (leaderboard.csv, history.csv, summary.json, data.json) for its one trial,
whose checkpoint is OUT/best, plus OUT/submission.csv (`id,target`, the competition's columns) when a test set
was predicted. selection, prediction and the report then read it as they read a search.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from trainables.data import has_labels, resolved_paths
from trainables.experiment_files import HISTORY_COLUMNS, leaderboard_row, write_tables
from trainables.fileio import atomic_write_text
from trainables.pipeline import PreparedData
from trainables.training import TrainingResult

TRIAL_ID = "train"
SUBMISSION = "submission.csv"


def write_one_trial_experiment(output: Path, result: TrainingResult, data: PreparedData, *, space: str) -> None:
    hist = pd.DataFrame(result.history).reindex(columns=HISTORY_COLUMNS)
    hist["trial_id"] = TRIAL_ID
    hist["training_iteration"] = np.arange(1, len(hist) + 1)
    if len(hist) and hist["time_total_s"].isna().all():  # the fit's wall time, known only at the end
        hist.loc[hist.index[-1], "time_total_s"] = result.seconds
    best = output / "best"
    row = leaderboard_row(TRIAL_ID, result.config, hist, checkpoint=str(best) if best.is_dir() else "",
                          status="TERMINATED")
    cfg = result.config
    test = data.test
    _, dev_path, test_path = resolved_paths(cfg.get("train_path", ""), cfg.get("dev_path", ""),
                                            cfg.get("test_path", ""))
    info = {
        "dev_ids": data.dev["id"].tolist(),
        "test_ids": None if test is None else test["id"].tolist(),
        "dev_path": dev_path, "test_path": test_path or None,
        "test_labelled": bool(test is not None and has_labels(test)),
    }
    atomic_write_text(output / "data.json", json.dumps(info, ensure_ascii=False))
    write_tables(str(output), [row], [hist], space=space, wall_seconds=result.seconds,
                 max_epochs=float(cfg.get("max_epochs", result.epochs)),
                 extra={"search_alg": "none (trainables/train.py)", "scheduler": "none", "num_samples": 1})
    predictions = best / "test_predictions.csv"
    if predictions.is_file():
        frame = pd.read_csv(predictions, dtype={"id": str}, keep_default_na=False)
        submission = pd.DataFrame({"id": frame["id"], "target": frame["prediction"].clip(0.0, 5.0)})
        atomic_write_text(output / SUBMISSION, submission.to_csv(index=False))
