"""One driver per experiment on object storage (s3://, gs://): a lease object, renewed while the driver runs.

A local or NFS experiment has `driver.lock`, created atomically (tune/lock.py). An object store offers no
create-if-absent through `pyarrow.fs` (what Ray writes with), and a driver on another machine cannot be asked
whether it still runs, so the claim there is a lease: `<experiment>/driver.lease`, a small JSON object
`{"owner", "host", "pid", "start_ticks", "since", "expires", "ttl_s"}`. A heartbeat thread rewrites it with a
later `expires` every ttl/4 seconds while the driver runs; the driver deletes it at the end. A second driver
is refused while the lease is unexpired; an expired lease means its owner stopped renewing it (gone), and is
taken over. A lease from this host whose process is gone is taken over at once, as the local lock is.

Taking it: read; refuse an unexpired one; write ours; wait `settle_s`; read it back and compare the owner id.
Residual race: two drivers that start within about `settle_s` of each other can both read it absent and both
write; the store keeps the last write, so the earlier writer reads back the other's id and is refused, unless
both read back before the second write lands, when both run. The settle wait makes that window small, not
zero: two drivers started by hand seconds apart are refused, two started by one script at the same instant may
not be. Expiry compares the writer's clock with the reader's: the TTL (default 60 s) must exceed their skew.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from trainables.config import ConfigError
from tune.lock import ExperimentLocked, _alive, _start_ticks

LEASE_FILE = "driver.lease"
TTL_S = 60.0
SETTLE_S = 1.0


def filesystem(uri: str):
    """(pyarrow filesystem, path inside it) for an experiment URI, as Ray resolves its storage_path."""
    import pyarrow.fs

    try:
        return pyarrow.fs.FileSystem.from_uri(uri)
    except Exception as e:  # pyarrow raises ArrowInvalid/OSError for bad URIs, missing credentials or region
        raise ConfigError(f"--storage {uri}: cannot open it to take the experiment's lease ({e}); check the URI "
                          "and the credentials") from None


def _read(fs, path: str) -> dict[str, Any] | None:
    """The lease's content; None when there is none (or it cannot be parsed: a cut write holds nobody)."""
    import pyarrow.fs

    if fs.get_file_info(path).type == pyarrow.fs.FileType.NotFound:
        return None
    try:
        with fs.open_input_stream(path) as f:
            info = json.loads(f.read().decode("utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _write(fs, path: str, info: dict[str, Any]) -> None:
    # one PUT: an object appears whole or not at all, so no temp-and-rename is needed (or possible) here
    with fs.open_output_stream(path) as f:
        f.write(json.dumps(info).encode("utf-8"))


def _dead_here(info: dict[str, Any]) -> bool:
    """A lease written from this host by a process that no longer runs: its owner is provably gone."""
    if info.get("host") != socket.gethostname():
        return False
    try:
        pid = int(info.get("pid", -1))
    except (TypeError, ValueError):
        return False
    return pid > 0 and not _alive(pid, info.get("start_ticks"))


@dataclass
class Lease:
    """A lease this process holds; `renew` runs in the heartbeat thread."""

    fs: Any
    path: str
    uri: str
    ttl_s: float
    info: dict[str, Any]
    lost: bool = False
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def renew(self) -> bool:
        """Push the expiry forward if the lease is still ours; False (and `lost`) once another driver took it."""
        current = _read(self.fs, self.path)
        if current is not None and current.get("owner") != self.info["owner"]:
            if not self.lost:
                print(f"warning: the lease {self.uri} was taken by another driver (host {current.get('host')}, pid "
                      f"{current.get('pid')}) after this one failed to renew it for {self.ttl_s:.0f}s: two "
                      "drivers now write this experiment; stop one", file=sys.stderr, flush=True)
            self.lost = True
            return False
        self.info = {**self.info, "expires": time.time() + self.ttl_s}
        _write(self.fs, self.path, self.info)
        return True

    def start_heartbeat(self) -> None:
        self._thread = threading.Thread(target=self._beat, name="sts-tune-lease", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        warned = False
        while not self._stop.wait(self.ttl_s / 4):
            try:
                if not self.renew():
                    return
                warned = False
            except OSError as e:  # a network hiccup: the next beat retries, well within the TTL
                if not warned:
                    print(f"warning: could not renew the lease {self.uri} ({e}); retrying", file=sys.stderr,
                          flush=True)
                    warned = True

    def release(self) -> None:
        """Stop renewing and delete the lease if it is still ours."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        try:
            current = _read(self.fs, self.path)
            if current is not None and current.get("owner") == self.info["owner"]:
                self.fs.delete_file(self.path)
        except OSError as e:  # it expires by itself within ttl_s: say so rather than fail the search's end
            print(f"warning: could not remove the lease {self.uri} ({e}); it expires in {self.ttl_s:.0f}s",
                  file=sys.stderr, flush=True)


def acquire(exp_uri: str, *, fs=None, path: str | None = None, ttl_s: float = TTL_S, settle_s: float = SETTLE_S,
            heartbeat: bool = True) -> Lease:
    """Take the experiment's lease (raise ExperimentLocked while another driver's is unexpired) and start its
    heartbeat. `fs`/`path` give the filesystem and the experiment's path in it directly (tests)."""
    if fs is None or path is None:
        fs, path = filesystem(exp_uri)
    exp_path = path.rstrip("/")
    lease_path = f"{exp_path}/{LEASE_FILE}"
    uri = f"{exp_uri.rstrip('/')}/{LEASE_FILE}"
    current = _read(fs, lease_path)
    if current is not None and not _expired(current) and not _dead_here(current):
        raise _locked(exp_uri, uri, current)
    fs.create_dir(exp_path, recursive=True)  # a no-op on object stores; local pyarrow filesystems need it
    me = {"owner": uuid.uuid4().hex, "host": socket.gethostname(), "pid": os.getpid(),
          "start_ticks": _start_ticks(os.getpid()), "since": time.strftime("%Y-%m-%d %H:%M:%S"),
          "expires": time.time() + ttl_s, "ttl_s": ttl_s}
    _write(fs, lease_path, me)
    time.sleep(settle_s)  # let a rival's write that raced ours land before we look
    back = _read(fs, lease_path)
    if back is None or back.get("owner") != me["owner"]:
        raise _locked(exp_uri, uri, back or {})
    lease = Lease(fs=fs, path=lease_path, uri=uri, ttl_s=ttl_s, info=me)
    if heartbeat:
        lease.start_heartbeat()
    return lease


def _expired(info: dict[str, Any]) -> bool:
    try:
        return float(info.get("expires", 0)) < time.time()
    except (TypeError, ValueError):
        return True


def _locked(exp_uri: str, uri: str, info: dict[str, Any]) -> ExperimentLocked:
    try:
        left = max(0.0, float(info.get("expires", 0)) - time.time())
    except (TypeError, ValueError):
        left = 0.0
    return ExperimentLocked(
        f"experiment {exp_uri} is in use by another search (pid {info.get('pid', '?')} on host "
        f"{info.get('host', '?')}, since {info.get('since', '?')}; its lease {uri} is renewed while it runs): wait "
        f"for it to end or stop it; if it was killed, its lease expires within {left:.0f}s"
    )
