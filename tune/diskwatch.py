"""Stop a search cleanly before a full disk corrupts it.

Left alone, a full disk fails every trial's checkpoint (retried, failing again), then cuts Ray's own experiment
state mid-JSON so the experiment can neither be read nor resumed. `DiskWatch` (a Tune callback, on the driver)
checks the storage's free space every few seconds and reads each trial error: when less than one trial's
footprint is free, or a trial failed with ENOSPC, it releases the experiment's ballast file (tune/storage.py)
and sends the driver SIGUSR1, which Ray Tune treats as Ctrl-C: its state is saved whole, running trials stay
resumable. The driver then writes the experiment files and ends in one line (tune/faults.py).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from ray.tune import Callback

from tune.storage import free_mb, no_space, release_reserve

_fired: list[str] = []  # storage paths whose search this process stopped for space (the driver's own memory)


def fired() -> bool:
    return bool(_fired)


def reset() -> None:
    """Forget an earlier stop (a driver process that runs several searches, e.g. the tests)."""
    _fired.clear()


class DiskWatch(Callback):
    def __init__(self, storage: str, exp_dir: str, per_trial_mb: float, every_s: float = 2.0) -> None:
        self.storage, self.exp_dir, self.per_trial_mb, self.every_s = storage, exp_dir, per_trial_mb, every_s
        self._last = 0.0

    def on_step_end(self, iteration: int, trials, **info) -> None:
        now = time.monotonic()
        if now - self._last < self.every_s:
            return
        self._last = now
        free = free_mb(self.storage)
        if free is not None and free < self.per_trial_mb:
            self._stop(f"{free:.0f} MB free")

    def on_trial_recover(self, iteration: int, trials, trial, **info) -> None:
        self._check_error(trial)

    def on_trial_error(self, iteration: int, trials, trial, **info) -> None:
        self._check_error(trial)

    def _check_error(self, trial) -> None:
        path = getattr(trial, "error_file", None)
        try:
            text = Path(path).read_text(errors="replace") if path else ""
        except OSError:
            text = ""
        if no_space(text):
            self._stop(f"trial {trial.trial_id} failed: no space left on device")

    def _stop(self, why: str) -> None:
        if _fired:
            return
        _fired.append(self.storage)
        release_reserve(self.exp_dir)
        print(f"[sts-tune] stopping the search: {why} on {self.storage} (a trial needs ~{self.per_trial_mb:.0f} MB)",
              file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGUSR1)  # Ray Tune's graceful stop, as for Ctrl-C
