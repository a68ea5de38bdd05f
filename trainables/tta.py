"""Symmetric test-time averaging (`tta: swap`): predict (s1, s2) and (s2, s1) and average the two.

STS labels are symmetric in the two sentences, but a cross-encoder reads one sequence `[CLS] s1 [SEP] s2`,
so the two orders give two (correlated, not equal) predictions; their mean is a cheap two-view ensemble.
The swapped rows are encoded beside the originals (`views` stacks them: rows 0..n-1 as given, n..2n-1
swapped) and predicted in the same pass; `average_views` folds the predictions back to one per row. Dev
(val_pearson and the saved dev predictions), test and `ensemble/predict.py` all go through it, so the cost is
part of the trial's seconds. A bi-encoder head (`bi_cosine`) encodes each sentence alone and compares them by
cosine, which is symmetric already: for it `swap` is a no-op (`TrialConfig.swap_views` is False).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trainables.tokens import EncodedSplit


def swapped(table: pd.DataFrame) -> pd.DataFrame:
    """The table with sentence_1 and sentence_2 exchanged (ids and labels unchanged)."""
    out = table.copy()
    out["sentence_1"], out["sentence_2"] = table["sentence_2"].to_numpy(), table["sentence_1"].to_numpy()
    return out


def views(original: EncodedSplit, swapped_enc: EncodedSplit | None) -> EncodedSplit:
    """The rows to predict: the originals, then (with swap) the same rows swapped."""
    if swapped_enc is None:
        return original
    if len(swapped_enc) != len(original):
        raise ValueError(f"{len(swapped_enc)} swapped rows for {len(original)} original rows")
    return EncodedSplit.concat([original, swapped_enc])


def average_views(pred: np.ndarray, rows: int) -> np.ndarray:
    """One prediction per row: the mean over the views stacked in `pred` (len = views * rows)."""
    pred = np.asarray(pred, dtype=np.float64).reshape(-1)
    if rows < 1 or len(pred) % rows:
        raise ValueError(f"{len(pred)} predictions are not a whole number of views of {rows} rows")
    return pred.reshape(len(pred) // rows, rows).mean(axis=0)
