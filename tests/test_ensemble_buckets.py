from __future__ import annotations

import numpy as np
import pytest

from ensemble.buckets import bucket_table, format_tables, table_dicts


def test_buckets_put_5_in_the_last_and_edges_in_the_upper_bucket() -> None:
    labels = np.array([0.0, 0.5, 1.0, 2.0, 3.0, 3.5, 4.0, 5.0])
    rows = bucket_table(labels + 0.1, labels)
    assert [r.bucket for r in rows] == ["0-1", "1-2", "2-3", "3-4", "4-5", "all"]
    assert [r.count for r in rows] == [2, 1, 1, 2, 2, 8]
    assert all(r.mae == pytest.approx(0.1) and r.bias == pytest.approx(0.1) for r in rows)
    assert rows[-1].pearson == pytest.approx(1.0)


def test_empty_and_singleton_buckets_have_nan_pearson() -> None:
    rows = bucket_table(np.array([0.2, 4.5]), np.array([0.1, 4.9]))
    assert rows[1].count == 0 and np.isnan(rows[1].mae)
    assert rows[0].count == 1 and np.isnan(rows[0].pearson)


def test_table_rendering_and_dicts() -> None:
    rng = np.random.default_rng(0)
    y = rng.uniform(0, 5, 100)
    tables = {"single": bucket_table(y + rng.normal(size=100), y), "ensemble": bucket_table(y, y)}
    text = format_tables(tables)
    assert "single" in text and "ensemble" in text and text.count("\n") == 7
    assert table_dicts(tables["single"])[0].keys() == {"bucket", "count", "pearson", "mae", "bias"}


def test_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="does not match"):
        bucket_table(np.ones(2), np.ones(3))
