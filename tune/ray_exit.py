"""How the driver leaves its Ray instance after a stop signal, without the crash in Ray's driver teardown.

Ctrl-C in a terminal signals the whole process group: Ray's GCS and raylet stop at once, while the driver is
still saving the experiment. `ray.shutdown()` (ours, or Ray's atexit hook) then destructs the driver's core
worker, whose task-event buffer flushes to the GCS that has gone, and about one interrupted run in 20 died
there with SIGSEGV (exit 139 instead of 130; the core-driver log ends at "Shutting down TaskEventBuffer").
Ray's own comment in `ray.shutdown` says the core worker's IO thread does not handle that teardown gracefully.

So after a stop signal the command-line driver leaves the other way round: once its experiment files, lock and
output are written, it stops Ray's processes (raylet first, gracefully, as `ray.shutdown` does) and ends with
`os._exit`, never running the core worker's teardown. A process that merely calls `tune.search.main` (the
tests) keeps the ordinary `ray.shutdown()`: it goes on using Ray afterwards.
"""

from __future__ import annotations

import os
import sys

from tune.interrupt import STOP_EXIT_CODES

_state = {"cli": False, "skipped": False}


def as_command() -> None:
    """Mark this process as the `tune/search.py` command: it exits right after main() returns."""
    _state["cli"] = True


def stop_ray(stopped: bool) -> None:
    """Shut down the Ray instance the driver started, or, after a stop signal in the command, leave that to
    `leave` (which must then be how the process ends)."""
    import ray

    if stopped and _state["cli"]:
        _state["skipped"] = True
        return
    ray.shutdown()


def leave(code: int) -> int:
    """The exit code, after a stop signal in the command: Ray's processes stopped, then os._exit (no return)."""
    if not _state["cli"] or not (_state["skipped"] or code in STOP_EXIT_CODES):
        return code
    _kill_ray_processes()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _kill_ray_processes() -> None:
    if "ray" not in sys.modules:  # the stop came before Ray was imported: nothing of it to stop
        return
    from ray._private import worker

    node = getattr(worker, "_global_node", None)  # private, but what ray.shutdown itself stops
    if node is None:
        return
    try:
        node.kill_all_processes(check_alive=False, allow_graceful=True, wait=True)
    except Exception as e:  # already gone, or a Ray without this method: the exit must still happen
        print(f"warning: could not stop Ray's processes ({type(e).__name__}: {e})", file=sys.stderr)
