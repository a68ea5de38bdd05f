"""One driver per experiment: a lock file in the experiment folder, holding the owner's pid, host and start time.

A second `tune/search.py` on the same experiment (a `--resume` while the first still runs, or two fresh starts
with one --name) is refused in one line. The lock is broken only when its owner is provably gone: same host, and
that pid no longer runs (or runs a different process, started at another time). A lock held from another host
is never broken automatically: the message says which file to remove once that driver is known to be dead.
Object storage (s3://, gs://) has no atomic create: there the claim is a lease renewed while the driver runs
(tune/lease.py).
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainables.config import ConfigError

if TYPE_CHECKING:
    from tune.lease import Lease

LOCK_FILE = "driver.lock"


class ExperimentLocked(ConfigError):
    """Another driver holds the experiment."""


def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22); None when unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()  # the command name may hold spaces: split after its ')'
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def _alive(pid: int, ticks: int | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        pass
    now = _start_ticks(pid)
    return ticks is None or now is None or now == ticks  # a reused pid started at another time is not the owner


def owner(exp_dir: str | Path) -> dict[str, Any] | None:
    """The lock's content, or None when the experiment is not locked (or the lock is unreadable)."""
    try:
        return json.loads((Path(exp_dir) / LOCK_FILE).read_text())
    except (OSError, ValueError):
        return None


def _stale(info: dict[str, Any] | None) -> bool:
    if info is None:
        return True  # half-written by a driver killed between create and write: nobody can be holding it
    if info.get("host") != socket.gethostname():
        return False
    return not _alive(int(info.get("pid", -1)), info.get("start_ticks"))


def acquire(exp_dir: str | Path) -> Path | Lease:
    """Create the lock (the folder too); raise ExperimentLocked when a live driver holds it. On a URI
    (s3://, gs://), take its lease instead (tune/lease.py)."""
    if "://" in str(exp_dir):
        from tune import lease

        return lease.acquire(str(exp_dir))
    exp = Path(exp_dir)
    exp.mkdir(parents=True, exist_ok=True)
    path = exp / LOCK_FILE
    me = {"pid": os.getpid(), "host": socket.gethostname(), "start_ticks": _start_ticks(os.getpid()),
          "since": time.strftime("%Y-%m-%d %H:%M:%S")}
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            info = owner(exp)
            if info is None and time.time() - _mtime(path) < 5:
                time.sleep(1)  # another driver is between creating and writing it
                continue
            if not _stale(info):
                where = "this host" if info["host"] == socket.gethostname() else f"host {info['host']}"
                raise ExperimentLocked(
                    f"experiment {exp} is in use by another search (pid {info['pid']} on {where}, since "
                    f"{info.get('since', '?')}): wait for it to end or stop it"
                    + ("" if info["host"] == socket.gethostname()
                       else f"; if that driver is dead, remove {path}")
                ) from None
            path.unlink(missing_ok=True)  # its owner is gone
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(me))
        return path
    raise ExperimentLocked(f"experiment {exp}: could not take the lock {path}; retry, or remove it if stale")


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def release(path: Path | Lease | None) -> None:
    """Remove the lock (or the lease) if it is still ours."""
    if path is None:
        return
    if not isinstance(path, Path):
        path.release()
        return
    info = owner(path.parent)
    if info is not None and info.get("pid") == os.getpid() and info.get("host") == socket.gethostname():
        path.unlink(missing_ok=True)


@contextmanager
def held(exp_dir: str | Path) -> Iterator[Path | Lease]:
    path = acquire(exp_dir)
    try:
        yield path
    finally:
        release(path)
