"""Read a finished search for the report: leaderboard, summary, history (else progress.csv files), ensemble.

Only the experiment directory contract (docs/experiment-format.md); the leaderboard is read and ranked by
ensemble/experiment.read_leaderboard, the same reader the ensemble selection uses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ensemble.experiment import LEADERBOARD, read_leaderboard
from ensemble.known import known_ensembles
from trainables.metrics import METRIC, best_position

SUMMARY = "summary.json"
HISTORY = "history.csv"
PROGRESS = "progress.csv"
ENSEMBLE_JSON = Path("ensemble") / "ensemble.json"
REQUIRED_BOARD = ("trial_id", METRIC, "epochs_run", "status", "seconds")


@dataclass
class Experiment:
    root: Path
    board: pd.DataFrame  # leaderboard.csv plus the derived `kind` column
    summary: dict[str, Any] | None
    history: pd.DataFrame | None  # trial_id, epoch, val_pearson (None: no learning curves anywhere)
    history_source: str
    max_epochs: float
    ensemble: dict[str, Any] | None = None
    ensemble_path: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def knob_columns(self) -> list[str]:
        return [c for c in self.board.columns if c.startswith("config/")]

    @property
    def varying(self) -> list[str]:
        """Knobs that differ between trials; a knob with one value says nothing about its effect."""
        return [c for c in self.knob_columns if self.board[c].astype(str).nunique(dropna=False) > 1]

    @property
    def best_index(self) -> int | None:
        return best_position(self.board[METRIC].to_numpy(dtype=float))


# --- reading ---------------------------------------------------------------------------------------
def _read_csv(path: Path) -> pd.DataFrame:
    # Ray's trial ids are hex ("1e5a3b00" would otherwise become a float): always text.
    try:
        return pd.read_csv(path, dtype={"trial_id": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a readable CSV ({exc})") from exc


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc


def _truthy(values: pd.Series) -> pd.Series:
    return values.map(lambda v: v is True or str(v).strip().lower() in ("true", "1", "1.0"))


def read_board(root: Path) -> pd.DataFrame:
    """leaderboard.csv best first, with the columns the report needs, numeric where they must be."""
    board = read_leaderboard(root, REQUIRED_BOARD, infer_types=True)
    path = root / LEADERBOARD
    if board.empty:
        raise ValueError(f"{path} has no trials: nothing to report")
    for col in ("epochs_run", "seconds", "best_epoch"):
        if col in board.columns:
            try:
                board[col] = pd.to_numeric(board[col])
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{path}: column {col} must be numeric ({exc})") from exc
    if "test_pearson" in board.columns:  # optional (labelled test sets only): a bad cell is just not a score
        board["test_pearson"] = pd.to_numeric(board["test_pearson"], errors="coerce")
    board["status"] = board["status"].fillna("").astype(str)
    return board


def _max_epochs(board: pd.DataFrame) -> float:
    """The search's epoch budget: every trial carries it as a knob; else the longest trial ran it."""
    if "config/max_epochs" in board.columns:
        values = pd.to_numeric(board["config/max_epochs"], errors="coerce")
        if values.notna().any():
            return float(values.max())
    return float(board["epochs_run"].max()) if board["epochs_run"].notna().any() else 0.0


def _trial_kinds(board: pd.DataFrame, max_epochs: float) -> pd.Series:
    errored = board["status"].str.upper().eq("ERROR")
    if "stopped_early" in board.columns:
        early = _truthy(board["stopped_early"])
    else:
        early = board["epochs_run"].fillna(0) < max_epochs - 1e-9
    return pd.Series(
        np.where(errored, "error", np.where(early, "stopped early", "completed")), index=board.index
    )


def _history_frame(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    if "epoch" not in frame.columns and "training_iteration" in frame.columns:
        frame = frame.assign(epoch=frame["training_iteration"])
    missing = [c for c in ("trial_id", "epoch", "val_pearson") if c not in frame.columns]
    if missing:
        raise ValueError(f"{path} lacks column(s) {', '.join(missing)} (docs/experiment-format.md)")
    out = frame[["trial_id", "epoch", "val_pearson"]].copy()
    for col in ("epoch", "val_pearson"):
        out[col] = pd.to_numeric(out[col], errors="coerce")
    return out.dropna(subset=["epoch"])


def read_history(root: Path, notes: list[str]) -> tuple[pd.DataFrame | None, str]:
    path = root / HISTORY
    if path.is_file():
        history = _history_frame(_read_csv(path), path)
        if len(history):
            return history, HISTORY
        missing = f"{HISTORY} has no rows"
    else:
        missing = f"no {HISTORY} in the experiment directory"
    frames = []
    for progress in sorted(root.glob(f"*/{PROGRESS}")):
        try:
            frame = pd.read_csv(progress, dtype={"trial_id": str})
        except pd.errors.EmptyDataError:  # Ray leaves it empty for a trial that never reported
            continue
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            notes.append(f"skipped {progress}: unreadable ({exc}).")
            continue
        if "val_pearson" not in frame.columns:
            continue
        if "trial_id" not in frame.columns:
            frame["trial_id"] = progress.parent.name
        frames.append(_history_frame(frame, progress))
    if frames:
        notes.append(f"{missing}: learning curves come from each trial folder's {PROGRESS}.")
        return pd.concat(frames, ignore_index=True), f"{PROGRESS} of {len(frames)} trial folder(s)"
    notes.append(f"{missing} and no trial folder has a {PROGRESS} with val_pearson: no learning curves.")
    return None, ""


def read_experiment(root: Path, ensemble_path: Path | None = None) -> Experiment:
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"experiment directory {root} not found (pass the STORAGE/NAME of tune/search.py)")
    board = read_board(root)
    notes: list[str] = []
    summary = None
    if (root / SUMMARY).is_file():
        summary = _read_json(root / SUMMARY)
        if not isinstance(summary, dict):
            raise ValueError(f"{root / SUMMARY}: expected a JSON object, got {type(summary).__name__}")
        if summary.get("state") == "interrupted":
            notes.append(f"{summary.get('state_line', 'interrupted')}: an interrupted search; INTERRUPTED and "
                         "PENDING trials are unfinished (resume it with tune/search.py … --resume).")
    else:
        notes.append(f"no {SUMMARY}: the summary is derived from {LEADERBOARD} (wall time unknown).")
    history, source = read_history(root, notes)
    max_epochs = _max_epochs(board)
    board["kind"] = _trial_kinds(board, max_epochs)
    exp = Experiment(root, board, summary, history, source, max_epochs, notes=notes)

    explicit = ensemble_path is not None
    path = Path(ensemble_path) if explicit else root / ENSEMBLE_JSON
    if not explicit and not path.is_file() and known_ensembles(root):
        path = known_ensembles(root)[-1]  # written with select.py --output elsewhere; the newest
        notes.append(f"ensemble: {path} (the newest recorded in {root / 'ensembles.json'}; --ensemble picks another)")
    if path.is_file():
        data = _read_json(path)
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected the JSON object of ensemble/select.py")
        exp.ensemble, exp.ensemble_path = data, path
        source = data.get("experiment")
        pooled = data.get("experiments") if isinstance(data.get("experiments"), list) else [source]
        if isinstance(source, str) and all(Path(str(s)).resolve() != root.resolve() for s in pooled):
            notes.append(f"{path} was selected from {source}, not from this experiment directory.")
    elif explicit:
        raise ValueError(f"--ensemble {path} not found (ensemble/select.py writes OUT/ensemble.json)")
    return exp
