"""A full disk (tune/storage.py, tune/diskwatch.py): the search stops whole in one line, finished trials stay
readable, and --resume continues once space is freed. The real drill needs a small tmpfs (root)."""

from __future__ import annotations

import errno
import os
import subprocess
import uuid
from pathlib import Path

import pandas as pd
import pytest
from searchkit import write_micro_space

from ensemble.verify import problem
from tune import search, storage


def test_a_full_disk_is_recognised_however_it_is_wrapped():
    try:
        with open("/dev/full", "w") as f:  # a real ENOSPC from the kernel
            f.write("x")
            f.flush()
    except OSError as e:
        full = e
    assert full.errno == errno.ENOSPC
    try:
        try:
            raise full
        except OSError as inner:
            raise RuntimeError("Trials did not complete") from inner
    except RuntimeError as wrapped:
        assert storage.no_space(wrapped)
    assert storage.no_space("OSError: [Errno 28] Error writing bytes to file")
    assert not storage.no_space(RuntimeError("CUDA out of memory"))


def test_the_one_line_names_storage_free_space_and_need(tmp_path):
    line = storage.no_space_line(str(tmp_path), 40.2, "python tune/search.py --name x --resume")
    assert line.startswith(f"no space left on {tmp_path}: ") and "MB free, a trial needs ~40 MB" in line
    assert line.endswith("continue with: python tune/search.py --name x --resume") and "\n" not in line


def test_the_preflight_warns_when_the_trials_cannot_fit(tmp_path, micro_backbone, small_data):
    space = write_micro_space(tmp_path / "m.yaml", micro_backbone, small_data)
    p = search.plan(search.build_parser().parse_args(["--space", str(space), "--storage", str(tmp_path)]))
    per_trial = storage.estimate_trial_mb(p)
    assert 5 < per_trial < 30  # two micro checkpoints (~4.8 MB of weights each) and logs
    free = storage.free_mb(str(tmp_path))
    assert storage.warn_if_short(p, 1, per_trial) is None
    line = storage.warn_if_short(p, int(free / per_trial) + 10, per_trial)
    assert line is not None and "MB free but" in line and "trials need" in line


@pytest.fixture
def small_tmpfs(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=22m", f"sts-{uuid.uuid4().hex[:6]}", str(mnt)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode})")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.slow
def test_a_full_disk_stops_the_search_in_one_line_then_resume_finishes(
    tmp_path, micro_backbone, small_data, small_tmpfs, monkeypatch, capsys
):
    monkeypatch.setenv("STS_TUNE_MIN_FREE_MB", "1")
    space = write_micro_space(tmp_path / "m.yaml", micro_backbone, small_data, test=False, batches=3)
    argv = ["--space", str(space), "--storage", str(small_tmpfs), "--name", "d", "--search-alg", "random",
            "--scheduler", "fifo", "--num-samples", "4", "--max-epochs", "1", "--max-concurrent", "1",
            "--num-cpus", "2", "--verbose", "0"]
    assert search.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"error: no space left on {small_tmpfs}: ") and "a trial needs ~" in err[-1]
    assert "Traceback" not in "\n".join(err)
    exp = small_tmpfs / "d"
    lb = pd.read_csv(exp / "leaderboard.csv", dtype={"trial_id": str})
    done = lb[lb["status"] == "TERMINATED"]
    assert 1 <= len(done) < 4
    for ckpt in done["checkpoint"]:  # the finished trials' files are whole
        assert problem(Path(ckpt), {"dev": "dev_predictions.csv"}, {}) is None

    subprocess.run(["mount", "-o", "remount,size=200m", str(small_tmpfs)], check=True)
    assert search.main(["--storage", str(small_tmpfs), "--name", "d", "--resume", "--num-cpus", "2",
                        "--verbose", "0"]) == 0
    lb = pd.read_csv(exp / "leaderboard.csv", dtype={"trial_id": str})
    assert len(lb) == 4 and (lb["status"] == "TERMINATED").all()
