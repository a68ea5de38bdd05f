"""Check a trial's prediction files before they are trusted: the row counts and sha256 its checkpoint recorded
(meta.json "predictions", trainables/checkpoint.py) and the ids the search used (data.json).

A file cut short by a full disk or a crash, or edited since, names itself here, instead of surfacing later as
an id mismatch blamed on another trial, or as a library silently shrunk to the rows every member still has.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from trainables.fileio import file_digest

DATA_JSON = "data.json"
SUMMARY_JSON = "summary.json"


def read_data_ids(experiment: Path) -> dict[str, list[str] | None]:
    """{"dev": ids, "test": ids or None} from the experiment's data.json (empty when it has none)."""
    try:
        info = json.loads((experiment / DATA_JSON).read_text())
    except (OSError, ValueError):
        return {}
    out: dict[str, list[str] | None] = {}
    for key in ("dev", "test"):
        ids = info.get(f"{key}_ids")
        out[key] = None if ids is None else [str(i) for i in ids]
    return out


def interrupted_note(experiment: Path) -> str | None:
    """A line for an experiment whose search was interrupted (summary.json "state"), else None."""
    try:
        summary = json.loads((experiment / SUMMARY_JSON).read_text())
    except (OSError, ValueError):
        return None
    if summary.get("state") != "interrupted":
        return None
    return (f"{experiment} is an interrupted search ({summary.get('state_line', 'interrupted')}): only its finished "
            "and checkpointed trials are candidates; resume the search (tune/search.py … --resume) for the rest")


def _ids(path: Path) -> list[str] | None:
    try:
        return pd.read_csv(path, usecols=["id"], dtype=str, keep_default_na=False)["id"].tolist()
    except (ValueError, OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
        return None  # unreadable: the reader's own checks name it


def problem(checkpoint: Path, files: dict[str, str], data_ids: dict[str, list[str] | None]) -> str | None:
    """What is wrong with a checkpoint's prediction files, in one phrase naming the file; None when sound.

    `files` maps "dev"/"test" to file names in the checkpoint."""
    try:
        meta: dict[str, Any] = json.loads((checkpoint / "meta.json").read_text())
    except FileNotFoundError:
        meta = {}
    except (OSError, ValueError) as e:
        return f"{checkpoint / 'meta.json'} is unreadable ({e})"
    recorded = meta.get("predictions") or {}
    folds = _num_folds(checkpoint)
    for key, name in files.items():
        path = checkpoint / name
        want = recorded.get(name)
        if want is not None:
            if not path.is_file():
                return f"{path} is missing (its checkpoint recorded {want['rows']} rows)"
            digest = file_digest(path)
            rows, sha = digest["rows"], digest["sha256"]
            if sha != want.get("sha256"):
                if rows != want.get("rows"):
                    return f"{path} has {rows} rows, its checkpoint recorded {want['rows']}: cut short or edited"
                return f"{path} differs from what its checkpoint recorded (sha256 mismatch): edited or damaged"
        expected = data_ids.get(key)
        if expected is None or folds or not path.is_file():
            continue
        ids = _ids(path)
        if ids is not None and set(ids) != set(expected):
            missing, extra = len(set(expected) - set(ids)), len(set(ids) - set(expected))
            return f"{path} does not hold the search's {key} ids (data.json): {missing} missing, {extra} extra"
    return None


def _num_folds(checkpoint: Path) -> int:
    try:
        return int(json.loads((checkpoint / "config.json").read_text()).get("num_folds") or 0)
    except (OSError, ValueError, TypeError):
        return 0
