"""Synthetic experiment directories (docs/experiment-format.md) for the ensemble tests and bench.

Members are truth + independent noise, so the mean of several is provably better than any one of them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from trainables.metrics import pearson

LEADERBOARD_COLUMNS = [
    "rank",
    "trial_id",
    "val_pearson",
    "best_epoch",
    "epochs_run",
    "status",
    "seconds",
    "checkpoint",
    "config/lr",
]


@dataclass(frozen=True)
class Synth:
    root: Path
    trial_ids: list[str]
    dev_ids: list[str]
    labels: np.ndarray
    dev_preds: np.ndarray  # [K, n] in dev order
    test_ids: list[str] | None
    test_preds: np.ndarray | None
    test_labels: np.ndarray | None = None  # only for labelled_test=True: scored, never used to select

    def checkpoint(self, trial_id: str) -> Path:
        return self.root / trial_id / "checkpoint_000003"

    @property
    def ranked(self) -> list[str]:
        """Trial ids best first, as the leaderboard sorts them."""
        scores = [_pearson(p, self.labels) for p in self.dev_preds]
        return [self.trial_ids[i] for i in np.argsort(scores)[::-1]]


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    return pearson(a, b)


def make_experiment(
    root: Path,
    *,
    members: int = 6,
    n_dev: int = 300,
    n_test: int | None = 120,
    noise: float | list[float] = 1.0,
    seed: int = 0,
    extra_rows: list[dict[str, object]] | None = None,
    dev_preds: np.ndarray | None = None,
    labelled_test: bool = False,
) -> Synth:
    """Write leaderboard.csv and one checkpoint directory per member under root; return the truth."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    dev_ids = [f"dev-{i:05d}" for i in range(n_dev)]
    labels = np.round(rng.uniform(0.0, 5.0, n_dev), 1)
    labels[:3] = [0.0, 5.0, 2.5]  # the bucket edges are exercised
    noises = noise if isinstance(noise, list) else [noise] * members
    if dev_preds is None:
        dev_preds = np.vstack([labels + rng.normal(0.0, s, n_dev) for s in noises])
    test_ids = None if n_test is None else [f"test-{i:05d}" for i in rng.permutation(n_test)]
    test_truth = None if n_test is None else rng.uniform(0.0, 5.0, n_test)
    test_preds = (
        None if test_truth is None else np.vstack([test_truth + rng.normal(0.0, s, n_test) for s in noises])
    )
    trial_ids = [f"trial_{i:03d}" for i in range(len(dev_preds))]
    rows = []
    for i, trial_id in enumerate(trial_ids):
        ckpt = root / trial_id / "checkpoint_000003"
        ckpt.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"id": dev_ids, "label": labels, "prediction": dev_preds[i]}).to_csv(
            ckpt / "dev_predictions.csv", index=False
        )
        if test_ids is not None and test_preds is not None:
            labels_col = {"label": np.round(test_truth, 2)} if labelled_test and test_truth is not None else {}
            pd.DataFrame({"id": test_ids, **labels_col, "prediction": test_preds[i]}).to_csv(
                ckpt / "test_predictions.csv", index=False
            )
        r = _pearson(dev_preds[i], labels)
        (ckpt / "config.json").write_text(json.dumps({"lr": 1e-5 * (i + 1)}))
        (ckpt / "meta.json").write_text(
            json.dumps({"epoch": 3.0, "global_step": 300, "val_pearson": r, "val_loss": 0.5})
        )
        (ckpt / "weights.safetensors").write_bytes(b"")
        rows.append(
            {
                "trial_id": trial_id,
                "val_pearson": r,
                "best_epoch": 3,
                "epochs_run": 3,
                "status": "TERMINATED",
                "seconds": 10.0,
                "checkpoint": str(ckpt),
                "config/lr": 1e-5 * (i + 1),
            }
        )
    rows.extend(extra_rows or [])
    board = pd.DataFrame(rows).sort_values("val_pearson", ascending=False, na_position="last")
    board.insert(0, "rank", range(1, len(board) + 1))
    board[LEADERBOARD_COLUMNS].to_csv(root / "leaderboard.csv", index=False)
    test_labels = np.round(test_truth, 2) if labelled_test and test_truth is not None else None
    return Synth(root, trial_ids, dev_ids, labels, dev_preds, test_ids, test_preds, test_labels)
