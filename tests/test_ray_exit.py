"""After a stop signal the command leaves Ray without the driver's core-worker teardown (tune/ray_exit.py): that
teardown segfaulted (exit 139) when Ctrl-C had already stopped Ray's GCS with the rest of the process group."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from trainables.paths import PROJECT_ROOT

# the driver's shape: Ray started, the experiment "written", then the search's own exit path
DRIVER = """
import signal, sys, ray
from tune import ray_exit
ray_exit.as_command()
ray.init(address="local", num_cpus=1, include_dashboard=False)
stopped = sys.argv[1] == "stopped"
if stopped:  # Ctrl-C in a terminal: the GCS and raylet get the SIGINT too
    node = ray._private.worker._global_node
    for proc_type in ("raylet", "gcs_server"):
        for info in node.all_processes.get(proc_type, []):
            info.process.send_signal(signal.SIGINT)
ray_exit.stop_ray(stopped)
print("experiment written", flush=True)
raise SystemExit(ray_exit.leave(130 if stopped else 0))
"""


def session_processes(sid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rfind(")") + 2:].split()[3]) == sid:
                pids.append(int(entry.name))
    return pids


def core_driver_log(pid: int) -> str:
    logs = list(Path("/tmp/ray").glob(f"session_*_{pid}/logs/python-core-driver-*_{pid}.log"))
    return logs[0].read_text(errors="replace") if logs else ""


def _run(mode: str) -> tuple[subprocess.CompletedProcess, int]:
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, mode], cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    out, _ = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out), proc.pid


def _gone(sid: int, within_s: float = 15) -> bool:
    deadline = time.monotonic() + within_s
    while session_processes(sid) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not session_processes(sid)


def test_a_stopped_command_stops_ray_and_exits_without_the_core_worker_teardown():
    done, pid = _run("stopped")
    assert done.returncode == 130 and "experiment written" in done.stdout, done.stdout[-2000:]
    assert _gone(pid), "Ray's processes outlived the driver"
    log = core_driver_log(pid)
    assert log, "no core-driver log found under /tmp/ray"
    assert "Destructing CoreWorkerProcessImpl" not in log  # the teardown that crashed was never entered


def test_an_ordinary_exit_keeps_rays_own_shutdown():
    done, pid = _run("finished")
    assert done.returncode == 0 and "experiment written" in done.stdout, done.stdout[-2000:]
    assert _gone(pid)
    assert "Destructing CoreWorkerProcessImpl" in core_driver_log(pid)
