"""leaderboard.csv, history.csv and summary.json of an experiment folder (docs/experiment-format.md).

Written by the search (tune/results.py turns Ray's results into rows) and by `trainables/train.py`, whose
output folder is a one-trial experiment: the same files, so selection, prediction and the report read both.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from trainables.config import TrialConfig
from trainables.fileio import atomic_write_text
from trainables.metrics import METRIC, MODE, best_position, rank

HISTORY_COLUMNS = ["trial_id", "training_iteration", "epoch", "val_pearson", "val_loss", "train_loss", "lr",
                   "time_total_s", "global_step", "restored_epoch", "test_pearson"]
TEST_NOTE = "test_pearson: on the labelled test set at each trial's best validation; not used for selection"
FINISHED = ("TERMINATED", "ERROR")  # the statuses of trials that ran to their end; any other row is resumable


def state_line(finished: int, expected: int) -> str:
    return f"interrupted: {finished} of {expected} trials finished"


def leaderboard_row(trial_id: str, config: dict[str, Any], hist: pd.DataFrame, *, checkpoint: str,
                    status: str) -> dict[str, Any]:
    """One trial's leaderboard row from its validation history (HISTORY_COLUMNS) and best checkpoint path.

    A finished trial lists its full config; an unfinished one only what it was given (no invented defaults).
    """
    best_i = best_position(hist[METRIC].to_numpy(dtype=float)) if len(hist) else None
    if best_i is not None:
        best_val = float(hist[METRIC].iloc[best_i])
        best_test = float(hist["test_pearson"].iloc[best_i])
        best_epoch = float(hist["epoch"].iloc[best_i])
        epochs_run = float(hist["epoch"].max())
        seconds = float(hist["time_total_s"].max())
    else:
        best_val, best_test, best_epoch, epochs_run, seconds = math.nan, math.nan, math.nan, 0.0, 0.0
    try:
        knobs = TrialConfig.from_dict(config, source=f"trial {trial_id}").to_dict() if status in FINISHED else (
            dict(config))
    except ValueError:
        knobs = dict(config)
    row = {
        "trial_id": trial_id,
        "val_pearson": best_val,
        "test_pearson": best_test,
        "best_epoch": best_epoch,
        "epochs_run": epochs_run,
        "status": status,
        "seconds": round(seconds, 1),
        "checkpoint": checkpoint,
    }
    row.update({f"config/{k}": (json.dumps(v) if isinstance(v, (list, dict)) else v) for k, v in knobs.items()})
    return row


def write_tables(
    exp_dir: str, rows: list[dict[str, Any]], histories: list[pd.DataFrame], *, space: str, wall_seconds: float,
    max_epochs: float, extra: dict[str, Any] | None = None, expected_trials: int | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Write the three files; with unfinished trials (or fewer than `expected_trials`) summary.json says
    "interrupted" (tune/interrupt.py marks such rows INTERRUPTED/PENDING)."""
    board = pd.DataFrame(rows)
    if len(board):
        board["stopped_early"] = (board["epochs_run"] < max_epochs) & (board["status"] == "TERMINATED")
        board = rank(board)
        board.insert(0, "rank", range(1, len(board) + 1))
    hist = pd.concat([h for h in histories if len(h)], ignore_index=True) if any(len(h) for h in histories) else (
        pd.DataFrame(columns=HISTORY_COLUMNS))
    # the best trial is never an errored one (its last weights are whatever it crashed with)
    eligible = board[(board["status"] != "ERROR") & board["val_pearson"].notna()] if len(board) else board
    best = eligible.iloc[0] if len(eligible) else None
    finished = int(board["status"].isin(FINISHED).sum()) if len(board) else 0
    expected = max(expected_trials or 0, len(board))
    state = "finished" if finished == expected else "interrupted"
    summary = {
        "state": state,
        "state_line": "finished" if state == "finished" else state_line(finished, expected),
        "trials_finished": finished,
        "trials_expected": expected,
        "experiment": exp_dir,
        "space": space,
        "metric": METRIC,
        "mode": MODE,
        "num_trials": len(board),
        "best_trial_id": None if best is None else best["trial_id"],
        "best_val_pearson": None if best is None or pd.isna(best["val_pearson"]) else float(best["val_pearson"]),
        "best_test_pearson": None if best is None or pd.isna(best["test_pearson"]) else float(best["test_pearson"]),
        "test_note": TEST_NOTE,
        "best_config": None if best is None else {
            k.split("/", 1)[1]: jsonable(v) for k, v in best.items() if k.startswith("config/")
        },
        "best_checkpoint": None if best is None else best["checkpoint"],
        "wall_seconds": round(wall_seconds, 1),
        "trials_by_status": board["status"].value_counts().to_dict() if len(board) else {},
        "trials_stopped_early": int(board["stopped_early"].sum()) if len(board) else 0,
        "total_epochs": float(board["epochs_run"].sum()) if len(board) else 0.0,
        **(extra or {}),
    }
    files = (("leaderboard.csv", board.to_csv(index=False)), ("history.csv", hist.to_csv(index=False)),
             ("summary.json", json.dumps(summary, indent=2, default=jsonable)))
    if "://" not in exp_dir:
        for name, text in files:
            atomic_write_text(Path(exp_dir) / name, text)
    else:
        import pyarrow.fs as pafs

        fs, base = pafs.FileSystem.from_uri(exp_dir)
        for name, text in files:
            with fs.open_output_stream(f"{base}/{name}") as f:
                f.write(text.encode())
    return board, summary


def jsonable(v: Any) -> Any:
    if hasattr(v, "item"):
        return v.item()
    if isinstance(v, str) and v[:1] in "[{":
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v
