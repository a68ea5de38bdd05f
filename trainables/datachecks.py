"""Checks across a dataset's splits, made when they are loaded (trainables/data.py `load_splits`), before any work.

- Leakage: a dev (or test) pair whose two sentences, whitespace-normalised and in either order, are a train
  pair. Every pair shared is an error (the same file twice, or dev cut from train without removing it);
  more than `OVERLAP_WARN_FRACTION` of the rows shared is a one-line warning with the count and an example.
  Ids are not compared: two files may number their rows alike (KLUE-CSV ids come from the file name) without
  sharing a pair. `allow_overlap=True` accepts both.
- Metric: dev labels that are all equal leave Pearson (val_pearson) undefined: an error.
- Size: a train set smaller than one batch, or a dev set under `MIN_DEV_ROWS` rows: an error. Both runs would
  finish and print numbers, but every number would be noise that early stopping and selection then act on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from trainables.data import DatasetSplits

MIN_DEV_ROWS = 10
# Below this share of shared pairs, say nothing: the bundled split has 1 of 500 dev pairs in train (a pair
# KLUE-STS itself lists twice in train, with different labels), and a warning on every run teaches to ignore it.
OVERLAP_WARN_FRACTION = 0.01


def _norm(s: str) -> str:
    return " ".join(s.split())


def pair_keys(table: pd.DataFrame) -> list[tuple[str, str]]:
    """Each row's pair, whitespace-normalised and order-free: what two files must share to leak."""
    out = []
    for s1, s2 in zip(table["sentence_1"], table["sentence_2"], strict=True):
        a, b = _norm(s1), _norm(s2)
        out.append((a, b) if a <= b else (b, a))
    return out


def shared_pairs(train: pd.DataFrame, other: pd.DataFrame) -> list[tuple[int, int]]:
    """(row in `other`, first row in `train`) for every pair of `other` that train also holds."""
    first: dict[tuple[str, str], int] = {}
    for i, k in enumerate(pair_keys(train)):
        first.setdefault(k, i)
    return [(i, first[k]) for i, k in enumerate(pair_keys(other)) if k in first]


def _short(s: str, n: int = 30) -> str:
    s = _norm(s)
    return s if len(s) <= n else s[: n - 1] + "…"


def overlap_message(train: pd.DataFrame, train_path: str, other: pd.DataFrame, other_path: str,
                    role: str) -> tuple[str, bool] | None:
    """(message, is_error) when `other` (dev or test) shares pairs with train; None when it does not matter."""
    hits = shared_pairs(train, other)
    n, total = len(hits), len(other)
    if not n or (n < total and n <= OVERLAP_WARN_FRACTION * total):
        return None
    i, j = hits[0]
    example = (f"{role} id {other['id'].iloc[i]!r} = train id {train['id'].iloc[j]!r}: "
               f"{_short(other['sentence_1'].iloc[i])!r} / {_short(other['sentence_2'].iloc[i])!r}")
    if n == total:
        return (f"{other_path}: all {total} {role} pairs also appear in {train_path} (same sentences, either "
                f"order, whitespace ignored; e.g. {example}): the {role} score would measure memorisation; use a "
                "held-out file, or set allow_overlap=true", True)
    return (f"{other_path}: {n} of {total} {role} pairs ({100 * n / total:.1f}%) also appear in {train_path} "
            f"(e.g. {example}); set allow_overlap=true to accept", False)


def check_splits(splits: DatasetSplits, *, allow_overlap: bool = False, batch_size: int = 1,
                 num_folds: int = 0) -> list[str]:
    """Raise DataError for a dataset no trial should run on; return one-line warnings for the CLI to print.

    With K-fold (`num_folds`) train and dev are pooled and re-split, so the dev file's own checks do not apply.
    """
    from trainables.data import DataError

    warnings: list[str] = []
    pairs = [] if num_folds else [(splits.dev, splits.dev_path, "dev")]
    if splits.test is not None:
        pairs.append((splits.test, splits.test_path, "test"))
    if not allow_overlap:
        for other, path, role in pairs:
            found = overlap_message(splits.train, splits.train_path, other, path, role)
            if found and found[1]:
                raise DataError(found[0])
            if found:
                warnings.append(found[0])
    train_rows = len(splits.train) + (len(splits.dev) if num_folds else 0)
    if train_rows < batch_size:
        raise DataError(
            f"{splits.train_path}: {train_rows} training rows, fewer than one batch (batch_size={batch_size}): "
            f"every epoch would be one partial step; use more data or --set batch_size={max(1, train_rows)}"
        )
    if num_folds:
        return warnings
    if len(splits.dev) < MIN_DEV_ROWS:
        raise DataError(
            f"{splits.dev_path}: {len(splits.dev)} dev rows; val_pearson over fewer than {MIN_DEV_ROWS} pairs is "
            "noise, and it drives early stopping and selection: use a larger dev set"
        )
    labels = splits.dev["label"].to_numpy(np.float64)
    if np.ptp(labels) == 0:
        raise DataError(
            f"{splits.dev_path}: column label: every dev label is {labels[0]:g}; Pearson (val_pearson) is "
            "undefined when the labels do not vary: use a dev set with varied labels"
        )
    return warnings
