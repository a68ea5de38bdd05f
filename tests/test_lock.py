"""One driver per experiment (tune/lock.py): a live owner refuses a second search, a dead one's lock is broken."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest
from searchkit import write_micro_space

from trainables.paths import PROJECT_ROOT
from tune import lock, search

HOLD = ("import sys, time; from tune.lock import acquire; acquire(sys.argv[1]); print('held', flush=True); "
        "time.sleep(300)")


def _holder(exp) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(exp)], cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_driver_on_a_running_experiment_is_refused(tmp_path, micro_backbone, small_data, capsys):
    space = write_micro_space(tmp_path / "m.yaml", micro_backbone, small_data)
    exp = tmp_path / "store" / "e"
    holder = _holder(exp)
    try:
        rc = search.main(["--space", str(space), "--storage", str(tmp_path / "store"), "--name", "e", "--resume",
                          "--num-cpus", "2"])
        err = capsys.readouterr().err.strip()
        assert rc == 2
        assert f"pid {holder.pid}" in err and "in use by another search" in err and len(err.splitlines()) == 1
        assert "Traceback" not in err
    finally:
        holder.kill()
        holder.wait()
    # its owner gone, the lock is broken by the next driver (and released by it)
    path = lock.acquire(exp)
    assert path is not None and json.loads(path.read_text())["pid"] != holder.pid
    lock.release(path)
    assert not path.exists()


def test_a_lock_of_a_dead_process_on_this_host_is_broken(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / lock.LOCK_FILE).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname()}))
    with lock.held(tmp_path) as path:
        assert path is not None and json.loads(path.read_text())["pid"] != dead.pid
    assert not (tmp_path / lock.LOCK_FILE).exists()


def test_a_lock_held_from_another_host_is_never_broken(tmp_path):
    (tmp_path / lock.LOCK_FILE).write_text(json.dumps({"pid": 1, "host": "elsewhere.invalid", "since": "then"}))
    with pytest.raises(lock.ExperimentLocked, match=r"host elsewhere\.invalid.*if that driver is dead, remove"):
        lock.acquire(tmp_path)


def test_a_reused_pid_is_not_the_owner(tmp_path):
    # our own pid, but recorded with another start time: a process that reused the number, not the owner
    me = lock._start_ticks(os.getpid())
    assert me is not None
    (tmp_path / lock.LOCK_FILE).write_text(json.dumps({"pid": os.getpid(),
                                                       "host": socket.gethostname(), "start_ticks": me - 1}))
    path = lock.acquire(tmp_path)
    assert path is not None
    lock.release(path)


def test_an_empty_lock_file_left_by_a_crash_is_broken(tmp_path):
    (tmp_path / lock.LOCK_FILE).write_text("")
    old = time.time() - 60
    os.utime(tmp_path / lock.LOCK_FILE, (old, old))
    path = lock.acquire(tmp_path)
    assert path is not None
    lock.release(path)
