"""leaderboard.csv, history.csv and summary.json beside Ray's own files (docs/experiment-format.md).

Ray's results become rows here; the files themselves are written by trainables/experiment_files.py, which
`trainables/train.py` shares.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from trainables.experiment_files import HISTORY_COLUMNS, TEST_NOTE, leaderboard_row, write_tables
from trainables.metrics import METRIC, score_key
from tune.interrupt import saved_statuses, trial_status

__all__ = ["HISTORY_COLUMNS", "TEST_NOTE", "format_top", "write_experiment_files"]


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
        status = trial_status(grid_status or "TERMINATED", saved.get(str(trial_id)), result.error is not None,
                              reported=bool(len(hist)) or bool(best_ckpt))
        rows.append(leaderboard_row(trial_id, config, hist, checkpoint=best_ckpt, status=status))
    return rows, histories


def _interrupted_statuses(saved: dict[str, str], expected_trials: int | None) -> dict[str, str]:
    """The saved statuses that mean "unfinished". HyperBand/BOHB leave the trials they never resumed PAUSED in
    the state of a search that ran to its end; only when something was still running or pending (an interrupted
    search: Ray saves running trials as PENDING) or trials are missing is a PAUSED trial resumable."""
    cut_short = any(v in ("PENDING", "RUNNING") for v in saved.values()) or len(saved) < (expected_trials or 0)
    return saved if cut_short else {k: v for k, v in saved.items() if v != "PAUSED"}


def write_experiment_files(
    exp_dir: str, result_grid, *, space: str, wall_seconds: float, max_epochs: int, extra: dict[str, Any] | None = None,
    expected_trials: int | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    rows, histories = _trial_rows(result_grid, _interrupted_statuses(saved_statuses(exp_dir), expected_trials))
    return write_tables(exp_dir, rows, histories, space=space, wall_seconds=wall_seconds, max_epochs=max_epochs,
                        extra=extra, expected_trials=expected_trials)


def format_top(board: pd.DataFrame, n: int = 10, max_width: int | None = None) -> str:
    """The top rows with the knobs that vary; knob columns that would make a line wider than `max_width` are
    left out (leaderboard.csv has them all)."""
    if not len(board):
        return "(no trials)"
    knob_cols = [c for c in board.columns if c.startswith("config/")]
    varying = [c for c in knob_cols if board[c].astype(str).nunique() > 1]
    base = ["rank", "trial_id", "val_pearson", "test_pearson", "best_epoch", "epochs_run", "status"]
    if board["test_pearson"].isna().all():
        base.remove("test_pearson")

    def render(cols: list[str]) -> str:
        view = board[cols].head(n).copy()
        view.columns = [c.removeprefix("config/") for c in cols]
        return view.to_string(index=False, float_format=lambda x: f"{x:.4g}")

    if not max_width:
        return render(base + varying)
    shown: list[str] = []
    for col in varying:  # in the leaderboard's order, each knob that still fits
        if max(map(len, render(base + shown + [col]).splitlines())) <= max_width:
            shown.append(col)
    return render(base + shown)
