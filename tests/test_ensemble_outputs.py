from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ensemble.outputs import dumps_json, json_safe, write_file_atomically, write_files_atomically


def test_json_safe_turns_nan_into_null() -> None:
    value = {
        "a": float("nan"),
        "b": np.float64(0.5),
        "c": np.array([1.0, np.inf]),
        "d": Path("/x"),
        "e": (1,),
    }
    assert json_safe(value) == {"a": None, "b": 0.5, "c": [1.0, None], "d": "/x", "e": [1]}
    assert json.loads(dumps_json(value))["a"] is None


def test_writes_a_new_directory(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "out"
    write_files_atomically(out, {"a.csv": "x\n", "b.json": "{}\n"})
    assert sorted(p.name for p in out.iterdir()) == ["a.csv", "b.json"]
    assert [p.name for p in out.parent.iterdir()] == ["out"]  # no temp dir left behind


def test_replaces_files_and_removes_stale_ones(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_files_atomically(out, {"a.csv": "old\n", "stale.csv": "old\n"})
    (out / "user-notes.txt").write_text("keep me")
    write_files_atomically(out, {"a.csv": "new\n"}, remove=["stale.csv"])
    assert (out / "a.csv").read_text() == "new\n"
    assert sorted(p.name for p in out.iterdir()) == ["a.csv", "user-notes.txt"]


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(FileNotFoundError):
        write_files_atomically(out, {"a.csv": "x\n", "missing-dir/b.csv": "y\n"})
    assert list(tmp_path.iterdir()) == []


def test_output_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("")
    with pytest.raises(ValueError, match="not a directory"):
        write_files_atomically(tmp_path / "out", {"a.csv": ""})


def test_single_file(tmp_path: Path) -> None:
    path = write_file_atomically(tmp_path / "sub" / "p.csv", "id,target\n")
    assert path.read_text() == "id,target\n"
    assert [p.name for p in path.parent.iterdir()] == ["p.csv"]
