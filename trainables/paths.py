"""Where the project's bundled files and the on-disk caches live."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BUNDLED_DATA = PROJECT_ROOT / "data" / "klue-sts"
KLUE_TRAIN = BUNDLED_DATA / "klue_sts_train.csv"  # the official train set (11,668 pairs)
KLUE_DEV = BUNDLED_DATA / "klue_sts_val.csv"  # the official dev set (519 pairs)
# The default dataset: dev carved from train (stratified, data/klue-sts/make_splits.py) for early stopping
# and selection; the official dev set is the labelled test set, never used for selection.
DEFAULT_TRAIN = BUNDLED_DATA / "splits" / "train.csv"
DEFAULT_DEV = BUNDLED_DATA / "splits" / "dev.csv"
DEFAULT_TEST = KLUE_DEV
SEARCH_SPACES = PROJECT_ROOT / "search_spaces"


def cache_root(override: str | os.PathLike[str] | None = None) -> Path:
    """The cache folder: explicit override, else $STS_TUNE_CACHE, else ~/.cache/sts-tune.

    On a cluster point it at shared storage so every node reuses the driver's token arrays.
    """
    if override:
        return Path(override).expanduser().resolve()
    env = os.environ.get("STS_TUNE_CACHE")
    if env:
        return Path(env).expanduser().resolve()
    return Path.home() / ".cache" / "sts-tune"


def resolve_local_path(value: str) -> str:
    """Absolute path for a file or folder that exists (cwd first, then the project root); else unchanged.

    Trials run with their working directory inside the trial folder, so relative paths must be fixed
    on the driver. A value that exists nowhere locally (e.g. ``klue/roberta-large``) is a hub name.
    """
    if not value or "://" in value:
        return value
    p = Path(value).expanduser()
    for candidate in (p, PROJECT_ROOT / p):
        if candidate.exists():
            return str(candidate.resolve())
    return value
