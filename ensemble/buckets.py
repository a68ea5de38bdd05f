"""Per-label-bucket error table (0-1, 1-2, 2-3, 3-4, 4-5 with 5 in the last).

Train labels skew towards 0 while dev is near uniform (docs/design.md), so a model can rank well overall yet
be biased in some bands; the bias column shows that calibration, MAE how far off, Pearson the ranking within.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

import numpy as np

from trainables.metrics import pearson

EDGES: tuple[float, ...] = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0)


@dataclass(frozen=True)
class BucketRow:
    bucket: str
    count: int
    pearson: float  # NaN with fewer than 2 rows or constant labels/predictions
    mae: float
    bias: float  # mean(prediction - label): > 0 means over-predicting in this band

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ValueError(f"bucket {self.bucket}: count must be >= 0, got {self.count}")


def bucket_table(prediction: np.ndarray, labels: np.ndarray) -> list[BucketRow]:
    """One row per label bucket plus an `all` row."""
    p = np.asarray(prediction, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if p.shape != y.shape or p.ndim != 1:
        raise ValueError(f"bucket_table: prediction shape {p.shape} does not match labels shape {y.shape}")
    # searchsorted on the inner edges puts 5.0 into 4-5 and clamps labels outside [0, 5] to the end buckets.
    index = np.searchsorted(np.asarray(EDGES[1:-1]), y, side="right")
    rows = []
    for i, (lo, hi) in enumerate(itertools.pairwise(EDGES)):
        mask = index == i
        rows.append(_row(f"{lo:g}-{hi:g}", p[mask], y[mask]))
    rows.append(_row("all", p, y))
    return rows


def _row(name: str, p: np.ndarray, y: np.ndarray) -> BucketRow:
    if p.size == 0:
        return BucketRow(name, 0, float("nan"), float("nan"), float("nan"))
    return BucketRow(
        bucket=name,
        count=int(p.size),
        pearson=pearson(p, y),
        mae=float(np.abs(p - y).mean()),
        bias=float((p - y).mean()),
    )


def table_dicts(rows: list[BucketRow]) -> list[dict[str, object]]:
    return [asdict(r) for r in rows]


def format_tables(tables: dict[str, list[BucketRow]]) -> str:
    """Side-by-side text table: one block of (pearson, mae, bias) columns per named prediction."""
    names = list(tables)
    if not names:
        return ""
    header = f"{'bucket':<7} {'n':>5}" + "".join(f" | {n[:26]:^26}" for n in names)
    sub = f"{'':<7} {'':>5}" + "".join(f" | {'pearson':>8} {'mae':>8} {'bias':>8}" for _ in names)
    lines = [header, sub]
    first = tables[names[0]]
    for i, row in enumerate(first):
        cells = "".join(
            f" | {tables[n][i].pearson:>8.4f} {tables[n][i].mae:>8.4f} {tables[n][i].bias:>+8.4f}"
            for n in names
        )
        lines.append(f"{row.bucket:<7} {row.count:>5}{cells}")
    return "\n".join(lines)
