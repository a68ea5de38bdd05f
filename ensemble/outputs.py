"""Atomic output writing and JSON-safe conversion.

Everything is rendered to text first and written into a temporary directory beside the destination; only
when every file is complete are they renamed into place, so a failure never leaves a half-written set.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from trainables.fileio import atomic_write_text, publishable


def json_safe(value: object) -> object:
    """Plain JSON types; NaN/inf become null (json.dumps would write invalid `NaN`)."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return [json_safe(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return json_safe(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    return value


def dumps_json(value: object) -> str:
    return json.dumps(json_safe(value), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def csv_text(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, lineterminator="\n")


def write_files_atomically(out_dir: Path, files: Mapping[str, str], remove: Sequence[str] = ()) -> list[Path]:
    """Write `files` (name -> text) into out_dir; then delete `remove` (stale outputs of an earlier run)."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"output {out_dir} exists and is not a directory; pass another --output")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        for name, text in files.items():
            (tmp / name).write_text(text, encoding="utf-8")
        publishable(tmp)
        if not out_dir.exists():
            tmp.rename(out_dir)  # one rename publishes the whole set
        else:
            for name in files:
                os.replace(tmp / name, out_dir / name)
            for name in remove:
                (out_dir / name).unlink(missing_ok=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [out_dir / name for name in files]


def write_file_atomically(path: Path, text: str) -> Path:
    """Write one file via a temporary file in the same directory (same filesystem, so rename is atomic)."""
    return atomic_write_text(path, text)
