"""Interruption is a state, not a result: what a stopped search's trials really are, and how the driver exits.

Ray Tune catches the first SIGINT itself: it stops the loop, saves its experiment state (running trials saved
as PENDING, to resume from their checkpoints), then stops every live actor, which marks those trials
TERMINATED in the ResultGrid it returns. So the grid cannot tell a finished trial from one cut short; the
state file Ray saved before that clean-up can: `saved_statuses` reads it. SIGTERM (and SIGHUP) are forwarded
to the same graceful stop; the exit code says which signal came (130 SIGINT, 143 SIGTERM, 129 SIGHUP).
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

from trainables.experiment_files import FINISHED, state_line
from trainables.space import SearchSpace

__all__ = ["FINISHED", "INTERRUPTED", "PENDING", "Signals", "expected_trials", "saved_statuses", "state_line",
           "trial_status"]

INTERRUPTED = "INTERRUPTED"  # started, not finished: resumes from its latest checkpoint
PENDING = "PENDING"  # never reported a result: resumes from scratch


# what the driver exits with after each stop signal it handles (128 + the signal's number, as a shell reports it)
STOP_EXIT_CODES = frozenset(128 + s for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP))


class Signals:
    """Forward SIGTERM/SIGHUP to whatever handles SIGINT now (Ray's graceful stop during a fit, else
    KeyboardInterrupt), and remember the last stop signal for the exit code."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def install(self) -> Signals:
        # a driver started with `&` from a script inherits SIGINT ignored; Ray's fit handles it anyway, so the
        # time before the fit must too, or a Ctrl-C/kill -INT then is lost and the search runs on
        if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
            self._previous.setdefault(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGINT, signal.default_int_handler)
        for sig in (signal.SIGTERM, signal.SIGHUP):
            previous = signal.signal(sig, self._forward)
            self._previous.setdefault(sig, previous)
        _active[:] = [self]
        return self

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
        _active.clear()

    def _forward(self, sig: int, frame) -> None:
        self.received = sig
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler) and handler is not signal.default_int_handler:
            handler(signal.SIGINT, frame)  # Ray's: stop after saving the experiment state
        else:
            raise KeyboardInterrupt

    def exit_code(self) -> int:
        return 128 + (self.received or signal.SIGINT)


_active: list[Signals] = []


def reinstall() -> None:
    """Take SIGTERM/SIGHUP back after ray.init, whose core worker installs a handler that aborts the driver."""
    if _active:
        _active[0].install()


def expected_trials(space: SearchSpace, search_alg: str, num_samples: int, pins: dict[str, Any]) -> int:
    """How many trials the search makes in all: num_samples, times the grid's size for random/grid search."""
    if search_alg not in ("random", "grid"):
        return num_samples
    size = 1
    for key, dist in space.search.items():
        if key not in pins and (dist.kind == "grid" or (dist.kind == "choice" and search_alg == "grid")):
            size *= len(dist.args)
    return num_samples * size


def saved_statuses(exp_dir: str) -> dict[str, str]:
    """trial_id -> status in the newest experiment_state-*.json Ray saved (empty when none is readable)."""
    if "://" in exp_dir:
        return {}
    # one file per driver session, named by its start time: the newest name is the latest session (mtimes
    # do not tell: Ray re-syncs the older files too)
    files = sorted(Path(exp_dir).glob("experiment_state-*.json"), key=lambda f: f.name)
    if not files:
        return {}
    try:
        state = json.loads(files[-1].read_text())
        out: dict[str, str] = {}
        for trial_json, _meta in state.get("trial_data", []):
            trial = json.loads(trial_json)
            out[str(trial["trial_id"])] = str(trial["status"])
        return out
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def trial_status(grid_status: str, saved: str | None, errored: bool, reported: bool) -> str:
    """The status a leaderboard row may claim: TERMINATED or ERROR only for trials Ray finished. The saved
    state wins: a trial being retried after an error, then interrupted, is resumable, not ERROR."""
    status = saved or ("ERROR" if errored else grid_status)
    if status in FINISHED:
        return status
    return INTERRUPTED if reported else PENDING
