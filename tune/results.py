"""leaderboard.csv, history.csv and summary.json beside Ray's own files (docs/experiment-format.md)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from trainables.config import TrialConfig
from trainables.fileio import atomic_write_text
from trainables.metrics import METRIC, MODE, best_position, rank, score_key
from tune.interrupt import FINISHED, saved_statuses, state_line, trial_status

HISTORY_COLUMNS = ["trial_id", "training_iteration", "epoch", "val_pearson", "val_loss", "train_loss", "lr",
                   "time_total_s", "global_step", "restored_epoch", "test_pearson"]
TEST_NOTE = "test_pearson: on the labelled test set at each trial's best validation; not used for selection"


def _grid_statuses(result_grid) -> list[str]:
    """Ray's status of each trial in the grid's order ('' when the grid does not say)."""
    analysis = getattr(result_grid, "_experiment_analysis", None)
    trials = getattr(analysis, "trials", None) or []
    return [str(getattr(t, "status", "")) for t in trials] if len(trials) == len(result_grid) else [""] * len(
        result_grid)


def _trial_rows(result_grid, saved: dict[str, str]) -> tuple[list[dict[str, Any]], list[pd.DataFrame]]:
    rows, histories = [], []
    for result, grid_status in zip(result_grid, _grid_statuses(result_grid), strict=True):
        config = result.config or {}
        trial_id = (result.metrics or {}).get("trial_id") or Path(result.path).name
        df = result.metrics_dataframe
        hist = pd.DataFrame(columns=HISTORY_COLUMNS)
        if df is not None and len(df) and "val_pearson" in df:
            hist = df.reindex(columns=HISTORY_COLUMNS[1:]).copy()
            hist.insert(0, "trial_id", trial_id)
            hist = hist.dropna(subset=["val_pearson"])
        histories.append(hist)
        best_ckpt = ""
        if result.best_checkpoints:
            ckpt, _ = max(result.best_checkpoints, key=lambda cm: score_key(cm[1].get(METRIC)))
            best_ckpt = ckpt.path
        best_i = best_position(hist[METRIC].to_numpy(dtype=float)) if len(hist) else None
        if best_i is not None:
            best_val = float(hist[METRIC].iloc[best_i])
            best_test = float(hist["test_pearson"].iloc[best_i])
            best_epoch = float(hist["epoch"].iloc[best_i])
            epochs_run = float(hist["epoch"].max())
            seconds = float(hist["time_total_s"].max())
        else:
            best_val, best_test, best_epoch, epochs_run, seconds = math.nan, math.nan, math.nan, 0.0, 0.0
        status = trial_status(grid_status or "TERMINATED", saved.get(str(trial_id)), result.error is not None,
                              reported=bool(len(hist)) or bool(best_ckpt))
        try:
            # a finished trial's full config; an unfinished one lists only what it was given (no invented defaults)
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
            "checkpoint": best_ckpt,
        }
        row.update({f"config/{k}": (json.dumps(v) if isinstance(v, (list, dict)) else v) for k, v in knobs.items()})
        rows.append(row)
    return rows, histories


def write_experiment_files(
    exp_dir: str, result_grid, *, space: str, wall_seconds: float, max_epochs: int, extra: dict[str, Any] | None = None,
    expected_trials: int | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Write the three files; a search with unfinished trials (or fewer than `expected_trials`) is marked
    "interrupted" in summary.json, its unfinished rows INTERRUPTED/PENDING (tune/interrupt.py)."""
    rows, histories = _trial_rows(result_grid, saved_statuses(exp_dir))
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
            k.split("/", 1)[1]: _jsonable(v) for k, v in best.items() if k.startswith("config/")
        },
        "best_checkpoint": None if best is None else best["checkpoint"],
        "wall_seconds": round(wall_seconds, 1),
        "trials_by_status": board["status"].value_counts().to_dict() if len(board) else {},
        "trials_stopped_early": int(board["stopped_early"].sum()) if len(board) else 0,
        "total_epochs": float(board["epochs_run"].sum()) if len(board) else 0.0,
        **(extra or {}),
    }
    local = "://" not in exp_dir
    if local:
        root = Path(exp_dir)
        atomic_write_text(root / "leaderboard.csv", board.to_csv(index=False))
        atomic_write_text(root / "history.csv", hist.to_csv(index=False))
        atomic_write_text(root / "summary.json", json.dumps(summary, indent=2, default=_jsonable))
    else:
        import pyarrow.fs as pafs

        fs, base = pafs.FileSystem.from_uri(exp_dir)
        for name, text in (("leaderboard.csv", board.to_csv(index=False)), ("history.csv", hist.to_csv(index=False)),
                           ("summary.json", json.dumps(summary, indent=2, default=_jsonable))):
            with fs.open_output_stream(f"{base}/{name}") as f:
                f.write(text.encode())
    return board, summary


def _jsonable(v: Any) -> Any:
    if hasattr(v, "item"):
        return v.item()
    if isinstance(v, str) and v[:1] in "[{":
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


def format_top(board: pd.DataFrame, n: int = 10) -> str:
    if not len(board):
        return "(no trials)"
    knob_cols = [c for c in board.columns if c.startswith("config/")]
    varying = [c for c in knob_cols if board[c].astype(str).nunique() > 1]
    cols = ["rank", "trial_id", "val_pearson", "test_pearson", "best_epoch", "epochs_run", "status", *varying]
    if board["test_pearson"].isna().all():
        cols.remove("test_pearson")
    view = board[cols].head(n).copy()
    view.columns = [c.removeprefix("config/") for c in cols]
    return view.to_string(index=False, float_format=lambda x: f"{x:.4g}")
