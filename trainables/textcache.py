"""The preprocessing cache: one sqlite file of (step chain key, sentence) -> result.

sqlite gives atomic commits and safe concurrent readers/writers (several drivers sharing a cache dir) without a
lock file of our own; tuning over preprocessing choices then pays the Kiwi cost once per chain.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS results ("
    "chain TEXT NOT NULL, sentence TEXT NOT NULL, result TEXT NOT NULL, PRIMARY KEY (chain, sentence)"
    ") WITHOUT ROWID"
)
_SQL_CHUNK = 500  # stays under sqlite's host-parameter limit on old builds (999)


def default_cache_dir() -> Path:
    """``$STS_TUNE_CACHE/preprocess`` when the variable is set, else ``~/.cache/sts-tune/preprocess``."""
    root = os.environ.get("STS_TUNE_CACHE")
    if root:
        return Path(root).expanduser() / "preprocess"
    return Path.home() / ".cache" / "sts-tune" / "preprocess"


@contextlib.contextmanager
def open_cache(cache_dir: Path) -> Iterator[sqlite3.Connection]:
    cache_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(cache_dir / "preprocess.sqlite3", timeout=60)
    try:
        conn.execute(_SCHEMA)
        yield conn
    finally:
        conn.close()


def cache_get(conn: sqlite3.Connection, key: str, sentences: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for start in range(0, len(sentences), _SQL_CHUNK):
        part = sentences[start : start + _SQL_CHUNK]
        marks = ",".join("?" * len(part))
        query = f"SELECT sentence, result FROM results WHERE chain = ? AND sentence IN ({marks})"
        found.update(conn.execute(query, [key, *part]).fetchall())
    return found


def cache_put(conn: sqlite3.Connection, key: str, pairs: Iterable[tuple[str, str]]) -> None:
    with conn:  # one transaction: all of this run's results or none
        conn.executemany(
            "INSERT OR REPLACE INTO results (chain, sentence, result) VALUES (?, ?, ?)",
            ((key, s, r) for s, r in pairs),
        )
