"""The search's terminal view: one short line per trial event and a status line at most every 30 s.

Replaces Ray's trial table (kept under `--verbose 2`), which on the tiny search printed ~870 lines, up to 726
characters wide. Lines here never exceed `MAX_WIDTH`. The callback is saved in Ray's experiment state, so it
holds only plain values (no stream, no lock) and looks `sys.stdout` up at each print.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any

from ray import tune

from trainables.metrics import METRIC, is_better
from tune.terminal import clip

STATUS_EVERY_S = 30.0
UNCHANGED_STATUS_EVERY_S = 300.0  # a status that says nothing new (a long first epoch) repeats only this often


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    text = str(value)
    return text if len(text) <= 24 else "..." + text[-21:]


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


def _epoch_of(result: dict[str, Any]) -> float:
    value = result.get("epoch")
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else 0.0


def error_line(trial) -> str:
    """The last non-empty line of a trial's error file (the exception), or its state when there is none."""
    path = getattr(trial, "error_file", None)
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = [ln.strip() for ln in f if ln.strip()]
        return lines[-1] if lines else "no message"
    except (OSError, TypeError):
        return "no error file"


class LiveView(tune.Callback):
    """Trial events and a periodic status line; epochs are the scheduler's time axis (fractions allowed)."""

    def __init__(self, *, num_samples: int, max_epochs: float, searched: list[str], max_failures: int,
                 status_every_s: float = STATUS_EVERY_S) -> None:
        self.num_samples = num_samples
        self.max_epochs = float(max_epochs)
        self.searched = list(searched)
        self.max_failures = max_failures
        self.status_every_s = status_every_s
        self.started_at: float | None = None
        self.last_status = 0.0
        self.best: tuple[float, str] | None = None  # (val_pearson, trial id)
        self.epochs: dict[str, float] = {}  # furthest epoch each trial reached (consumed budget)
        self.stopped_early = 0
        self.last_status_text = ""
        # trials seen unfinished and not completed since: Ray's Ctrl-C clean-up marks them TERMINATED without
        # completing them, so the status must not count them done (a trial restored finished is never seen so)
        self.open: set[str] = set()

    # state survives a driver restart through Ray's experiment checkpoint; the clock restarts
    def __getstate__(self) -> dict[str, Any]:
        return dict(self.__dict__, started_at=None)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update({"open": set(), **state})  # a view pickled before `open` existed

    def _say(self, text: str) -> None:
        now = time.monotonic()
        if self.started_at is None:
            self.started_at = now
        stamp = _duration(now - self.started_at).rjust(6)
        print(clip(f"[{stamp}] {text}"), file=sys.stdout, flush=True)

    def _knobs(self, trial) -> str:
        config = trial.config or {}
        return " ".join(f"{k}={_short(config[k])}" for k in self.searched if k in config)

    def setup(self, **info) -> None:
        self.started_at = time.monotonic()
        self.last_status = self.started_at

    def _note_open(self, trials: list) -> None:
        self.open.update(t.trial_id for t in trials if t.status not in ("TERMINATED", "ERROR"))

    def on_trial_start(self, iteration: int, trials: list, trial, **info) -> None:
        self._note_open(trials)
        self._say(f"{trial.trial_id} started  {self._knobs(trial)}")

    def on_trial_result(self, iteration: int, trials: list, trial, result: dict, **info) -> None:
        value = result.get(METRIC)
        epoch = _epoch_of(result)
        self.epochs[trial.trial_id] = max(self.epochs.get(trial.trial_id, 0.0), epoch)
        if not isinstance(value, (int, float)):
            return
        mark = ""
        if self.best is None or is_better(float(value), self.best[0]):
            self.best = (float(value), trial.trial_id)
            mark = "  best so far"
        self._say(f"{trial.trial_id} epoch {epoch:.2f}  {METRIC} {value:.4f}{mark}")

    def on_trial_complete(self, iteration: int, trials: list, trial, **info) -> None:
        self.open.discard(trial.trial_id)
        epoch = self.epochs.get(trial.trial_id, 0.0)
        if epoch + 1e-9 < self.max_epochs:
            self.stopped_early += 1
            self._say(f"{trial.trial_id} stopped by the scheduler at epoch {epoch:.2f} of {self.max_epochs:g}")
        else:
            self._say(f"{trial.trial_id} finished ({epoch:.2f} epochs)")

    def on_trial_recover(self, iteration: int, trials: list, trial, **info) -> None:
        attempt = trial.num_failures
        self._say(f"{trial.trial_id} failed (attempt {attempt} of {self.max_failures + 1}), retrying from its "
                  f"latest checkpoint: {error_line(trial)}")

    def on_trial_error(self, iteration: int, trials: list, trial, **info) -> None:
        self.open.discard(trial.trial_id)
        self._say(f"{trial.trial_id} ERROR after {trial.num_failures} attempt(s): {error_line(trial)} "
                  f"(full trace: {trial.error_file})")

    def on_step_end(self, iteration: int, trials: list, **info) -> None:
        self._note_open(trials)
        now = time.monotonic()
        if now - self.last_status < self.status_every_s:
            return
        line = self.status_line(trials, now)
        news = line.split(" | ETA")[0] != self.last_status_text
        if news or now - self.last_status >= max(self.status_every_s, UNCHANGED_STATUS_EVERY_S):
            self.last_status, self.last_status_text = now, line.split(" | ETA")[0]
            self._say(line)

    def status_line(self, trials: list, now: float) -> str:
        counts: dict[str, int] = {}
        for t in trials:
            status = t.status
            if status in ("TERMINATED", "ERROR") and t.trial_id in self.open:
                status = "INTERRUPTED"  # stopped by an interrupt, not finished (tune/interrupt.py)
            counts[status] = counts.get(status, 0) + 1
        running, done = counts.get("RUNNING", 0), counts.get("TERMINATED", 0) + counts.get("ERROR", 0)
        cut = counts.get("INTERRUPTED", 0)
        pending = counts.get("PENDING", 0) + counts.get("PAUSED", 0) + max(0, self.num_samples - len(trials))
        spent = sum(self.epochs.values())
        budget = self.num_samples * self.max_epochs
        best = f"best {self.best[0]:.4f} ({self.best[1]})" if self.best else "best -"
        elapsed = now - (self.started_at or now)
        # every unfinished trial could still run to max_epochs: the estimate is an upper bound
        if cut:
            eta = f"{cut} interrupted"
        elif running + pending == 0:
            eta = "all done"
        else:
            eta = f"ETA <= {_duration(elapsed / spent * (budget - spent))}" if spent > 0 else "ETA -"
        return (f"status: {running} running, {pending} pending, {done} done"
                f"{f' ({self.stopped_early} stopped early)' if self.stopped_early else ''} | "
                f"epochs {spent:.1f}/{budget:g} | {best} | {eta}")

    def on_experiment_end(self, trials: list, **info) -> None:
        self._say(self.status_line(trials, time.monotonic()))


def ray_output(verbose: int) -> tuple[dict[str, Any], int]:
    """ray.init keywords and Tune's own verbosity for `--verbose` 0/1 (our view) or 2/3 (Ray's table, worker logs)."""
    import logging
    import os

    if verbose >= 2:
        return {"log_to_driver": True, "logging_level": logging.INFO}, verbose - 1
    # Ray's newer output engine prints its experiment box and TensorBoard hint (a /tmp/ray path) even when silent
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # Trial processes' own output (Lightning, checkpoint notices, the SystemExit of a trial the scheduler stopped)
    # stays in each trial's log file; failures reach the view through the trial's error file.
    for name in ("ray", "ray.train"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # Tune's own "Trial task failed" error (with the whole actor-death story) repeats what the view's
    # `failed (attempt k of n)` / `ERROR after k attempt(s)` line says, with the error file named
    logging.getLogger("ray.tune").setLevel(logging.CRITICAL)
    return {"log_to_driver": False, "logging_level": logging.ERROR}, 0
