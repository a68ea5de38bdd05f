"""Carve the bundled default dataset's dev split out of KLUE-STS train (stratified by label), once.

    python data/klue-sts/make_splits.py

The default dataset is then train (KLUE-STS train minus 500 pairs) / dev (those 500 pairs, used for early
stopping and ensemble selection) / test (KLUE-STS's official dev set, 519 labelled pairs, never used for
selection). Rows keep their official-style ids (`klue-sts-v1_train_{i:05d}`) in a `guid` column. The split
is deterministic; the committed files are what this script writes.

Stratified with equal allocation: 50 pairs from each 0.5-wide label bin. KLUE-STS train is skewed (30% of it
below 0.5, pairs a character-overlap score already ranks well), while the official dev set is built nearly
uniform over the bins; a dev set drawn like train scores ~0.96 for any reasonable model and barely tells
checkpoints apart, one drawn like the official dev set measures what the test measures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
DEV_ROWS = 500
BINS = 10  # 0.5-wide label bins over [0, 5]
SEED = 0


def main() -> None:
    train = pd.read_csv(HERE / "klue_sts_train.csv")
    train.insert(0, "guid", [f"klue-sts-v1_train_{i:05d}" for i in range(len(train))])
    rng = np.random.default_rng(SEED)
    bins = np.minimum((train["label"].to_numpy() / 0.5).astype(int), BINS - 1)
    picked = np.concatenate([
        rng.choice(np.flatnonzero(bins == b), DEV_ROWS // BINS, replace=False) for b in range(BINS)
    ])
    is_dev = np.zeros(len(train), dtype=bool)
    is_dev[picked] = True
    out = HERE / "splits"
    out.mkdir(exist_ok=True)
    train[~is_dev].to_csv(out / "train.csv", index=False)
    train[is_dev].to_csv(out / "dev.csv", index=False)
    print(f"train {int((~is_dev).sum())} rows, dev {int(is_dev.sum())} rows -> {out}")


if __name__ == "__main__":
    main()
