"""The lease on object storage (tune/lease.py), exercised on real pyarrow filesystems: the local one (what a
`file://` URI opens) and, when moto is installed, a local S3 server."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pyarrow.fs
import pytest

from trainables.paths import PROJECT_ROOT
from tune import lease, lock


def _lease_json(path) -> dict:
    return json.loads(path.read_text())


def _take(tmp_path, **kw) -> lease.Lease:
    kw.setdefault("settle_s", 0.05)
    return lease.acquire(f"file://{tmp_path}/e", fs=pyarrow.fs.LocalFileSystem(), path=f"{tmp_path}/e", **kw)


def test_a_second_driver_is_refused_while_the_lease_is_held_and_free_after_release(tmp_path):
    held = _take(tmp_path)
    try:
        info = _lease_json(tmp_path / "e" / lease.LEASE_FILE)
        assert info["pid"] == os.getpid() and info["expires"] > time.time()
        with pytest.raises(lock.ExperimentLocked, match=r"in use by another search .* expires within \d+s"):
            _take(tmp_path)
    finally:
        held.release()
    assert not (tmp_path / "e" / lease.LEASE_FILE).exists()
    _take(tmp_path, heartbeat=False).release()


def test_the_heartbeat_keeps_a_lease_alive_past_its_ttl(tmp_path):
    held = _take(tmp_path, ttl_s=0.4)
    try:
        first = _lease_json(tmp_path / "e" / lease.LEASE_FILE)["expires"]
        time.sleep(1.2)  # three TTLs: without renewals it would have expired twice over
        assert _lease_json(tmp_path / "e" / lease.LEASE_FILE)["expires"] > first
        with pytest.raises(lock.ExperimentLocked):
            _take(tmp_path)
    finally:
        held.release()


def test_an_expired_lease_from_another_host_is_taken_over(tmp_path):
    (tmp_path / "e").mkdir()
    stale = {"owner": "x", "host": "elsewhere.invalid", "pid": 1, "expires": time.time() - 5}
    (tmp_path / "e" / lease.LEASE_FILE).write_text(json.dumps(stale))
    taken = _take(tmp_path, heartbeat=False)
    assert _lease_json(tmp_path / "e" / lease.LEASE_FILE)["owner"] == taken.info["owner"] != "x"
    taken.release()


def test_an_unexpired_lease_from_another_host_is_refused(tmp_path):
    (tmp_path / "e").mkdir()
    live = {"owner": "x", "host": "elsewhere.invalid", "pid": 1, "since": "then", "expires": time.time() + 60}
    (tmp_path / "e" / lease.LEASE_FILE).write_text(json.dumps(live))
    with pytest.raises(lock.ExperimentLocked, match=r"pid 1 on host elsewhere\.invalid, since then"):
        _take(tmp_path)
    assert _lease_json(tmp_path / "e" / lease.LEASE_FILE)["owner"] == "x"  # left as it was


HOLD = ("import sys, time, pyarrow.fs; from tune import lease; "
        "lease.acquire('file://' + sys.argv[1], fs=pyarrow.fs.LocalFileSystem(), path=sys.argv[1], ttl_s=600, "
        "settle_s=0); print('held', flush=True); time.sleep(300)")


def test_a_killed_drivers_lease_on_this_host_is_taken_over_at_once(tmp_path):
    # a 10-minute TTL: only the dead pid on this host can free it now
    holder = subprocess.Popen([sys.executable, "-c", HOLD, f"{tmp_path}/e"], cwd=PROJECT_ROOT,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    with pytest.raises(lock.ExperimentLocked, match=f"pid {holder.pid} on host {socket.gethostname()}"):
        _take(tmp_path)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    _take(tmp_path, heartbeat=False).release()


def test_a_rival_write_during_the_settle_wait_wins(tmp_path):
    # the write-then-read-back check: a second driver's write that lands after ours means we do not hold it
    rival = {"owner": "rival", "host": "elsewhere.invalid", "pid": 7, "expires": time.time() + 60}
    errors: list[BaseException] = []

    def take() -> None:
        try:
            _take(tmp_path, settle_s=1.0, heartbeat=False)
        except lock.ExperimentLocked as e:
            errors.append(e)

    t = threading.Thread(target=take)
    t.start()
    deadline = time.monotonic() + 5
    while not (tmp_path / "e" / lease.LEASE_FILE).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    (tmp_path / "e" / lease.LEASE_FILE).write_text(json.dumps(rival))
    t.join()
    assert len(errors) == 1 and "pid 7 on host elsewhere.invalid" in str(errors[0])


def test_a_lease_taken_over_is_not_renewed_or_removed_by_its_old_owner(tmp_path, capsys):
    held = _take(tmp_path, heartbeat=False)
    newer = {"owner": "newer", "host": "elsewhere.invalid", "pid": 8, "expires": time.time() + 60}
    (tmp_path / "e" / lease.LEASE_FILE).write_text(json.dumps(newer))
    assert held.renew() is False and held.lost
    assert "taken by another driver" in capsys.readouterr().err
    held.release()
    assert _lease_json(tmp_path / "e" / lease.LEASE_FILE)["owner"] == "newer"


def test_lock_takes_a_lease_for_a_uri(tmp_path):
    with lock.held(f"file://{tmp_path}/e") as held:
        assert isinstance(held, lease.Lease)
        assert _lease_json(tmp_path / "e" / lease.LEASE_FILE)["owner"] == held.info["owner"]
        with pytest.raises(lock.ExperimentLocked):
            lock.acquire(f"file://{tmp_path}/e")
    assert not (tmp_path / "e" / lease.LEASE_FILE).exists()


@pytest.mark.slow
def test_the_lease_on_a_local_s3_server(monkeypatch):
    moto_server = pytest.importorskip("moto.server", reason="moto[server] not installed (pip install 'moto[server]')")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        for key, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                           "AWS_DEFAULT_REGION": "us-east-1"}.items():
            monkeypatch.setenv(key, value)
        s3 = pyarrow.fs.S3FileSystem(endpoint_override=f"{host}:{port}", scheme="http", region="us-east-1",
                                     allow_bucket_creation=True)
        s3.create_dir("bucket")
        uri = f"s3://bucket/sts/e?endpoint_override={host}:{port}&scheme=http&region=us-east-1"
        with lock.held(uri) as held:  # through pyarrow.fs.FileSystem.from_uri, as Ray opens its storage
            assert isinstance(held, lease.Lease)
            with s3.open_input_stream(f"bucket/sts/e/{lease.LEASE_FILE}") as f:
                assert json.loads(f.read())["owner"] == held.info["owner"]
            with pytest.raises(lock.ExperimentLocked, match="in use by another search"):
                lock.acquire(uri)
        assert s3.get_file_info(f"bucket/sts/e/{lease.LEASE_FILE}").type == pyarrow.fs.FileType.NotFound
        stale = {"owner": "x", "host": "elsewhere.invalid", "pid": 1, "expires": time.time() - 1}
        with s3.open_output_stream(f"bucket/sts/e/{lease.LEASE_FILE}") as f:
            f.write(json.dumps(stale).encode())
        lock.release(lock.acquire(uri))  # expired: taken over, then released
    finally:
        server.stop()


def test_a_search_on_a_uri_held_by_another_driver_is_refused_in_one_line(tmp_path, micro_backbone, small_data,
                                                                          capsys):
    from searchkit import write_micro_space

    from tune import search

    space = write_micro_space(tmp_path / "m.yaml", micro_backbone, small_data)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, f"{tmp_path}/store/e"], cwd=PROJECT_ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        rc = search.main(["--space", str(space), "--storage", f"file://{tmp_path}/store", "--name", "e",
                          "--num-cpus", "1"])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and len(err.splitlines()) == 1
        assert f"pid {holder.pid} on host {socket.gethostname()}" in err and "Traceback" not in err
    finally:
        holder.kill()
        holder.wait()
