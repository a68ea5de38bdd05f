"""Interruption is a state (tune/interrupt.py): Ctrl-C mid-search exits 130 with an experiment that says it was
interrupted, and `--resume` finishes it without re-running a finished trial. SIGTERM takes the same path."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from searchkit import write_micro_space

from trainables.paths import PROJECT_ROOT
from tune import search
from tune.interrupt import INTERRUPTED, PENDING, Signals, trial_status


def test_sigterm_takes_the_graceful_sigint_path_and_exits_143():
    seen: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda sig, frame: seen.append(sig))  # stands in for Ray's handler
    signals = Signals().install()
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.1)
    finally:
        signals.uninstall()
        signal.signal(signal.SIGINT, previous)
    assert seen == [signal.SIGINT] and signals.exit_code() == 143


def test_sigterm_outside_a_fit_is_a_keyboard_interrupt():
    # Python's own SIGINT handler, as in a fresh driver (an earlier test's Ray or Lightning may have left theirs)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    signals = Signals().install()
    try:
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
    finally:
        signals.uninstall()
        signal.signal(signal.SIGINT, previous)
    assert signals.exit_code() == 143


def test_only_a_trial_ray_finished_may_claim_terminated():
    # Ray's clean-up marks a running trial TERMINATED in the grid; its saved state says PENDING (to resume)
    assert trial_status("TERMINATED", "PENDING", errored=False, reported=True) == INTERRUPTED
    assert trial_status("TERMINATED", "PENDING", errored=False, reported=False) == PENDING
    assert trial_status("TERMINATED", "TERMINATED", errored=False, reported=True) == "TERMINATED"
    assert trial_status("PENDING", "PENDING", errored=True, reported=True) == INTERRUPTED  # retrying: resumable
    assert trial_status("ERROR", None, errored=True, reported=True) == "ERROR"


def _finished(exp: Path, epochs: float) -> dict[str, int]:
    out = {}
    for result in exp.glob("*/result.json"):
        lines = [json.loads(x) for x in result.read_text().splitlines() if x.strip()]
        if lines and lines[-1].get("epoch") == epochs:
            out[result.parent.name] = len(lines)
    return out


TINY_BERT = PROJECT_ROOT / "assets" / "tiny-bert"
BATCHES = 20  # every batch of small_data's 320 rows
EPOCHS = 4  # ~1 s each: when the first two trials finish, the other three have >= 6 s to go


def _interrupted_search(tmp_path, small_data, stop) -> tuple[Path, Path, dict[str, int], int, str]:
    """Start a search in its own session, wait until a trial has finished, stop it; (store, exp, finished, rc, log
    with the seconds from the signal to the exit appended)."""
    # the bundled tiny model over whole epochs: trials of seconds, so 3 of 5 are still to run when the first
    # finish (micro trials of 6 batches all ended within the 10 s Ray waits between syncs of result.json)
    space = write_micro_space(tmp_path / "int.yaml", TINY_BERT, small_data, test=False, batches=BATCHES)
    store, exp = tmp_path / "store", tmp_path / "store" / "i"
    argv = ["--space", str(space), "--storage", str(store), "--name", "i", "--search-alg", "random",
            "--scheduler", "fifo", "--num-samples", "5", "--max-epochs", str(EPOCHS), "--num-cpus", "2",
            "--verbose", "0"]
    with open(tmp_path / "first.log", "w") as log:
        # result.json reaches the experiment folder when Ray saves its state (every 10 s by default): each second
        # here, so the wait below sees a finished trial as soon as it finishes
        env = {**os.environ, "TUNE_GLOBAL_CHECKPOINT_S": "1"}
        proc = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "tune" / "search.py"), *argv], stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True, env=env)
        deadline, finished = time.time() + 240, {}
        while time.time() < deadline and proc.poll() is None and not finished:
            finished = _finished(exp, EPOCHS)
            time.sleep(0.5)
        t0 = time.time()
        stop(proc.pid)
        rc = proc.wait(timeout=120)
    return store, exp, finished, rc, (tmp_path / "first.log").read_text() + f"\nstopped in {time.time() - t0:.0f}s"


@pytest.mark.slow
def test_sigterm_to_the_driver_stops_the_search_gracefully(tmp_path, small_data):
    # Ray's core worker installs a SIGTERM handler that aborts the driver: ours must win after ray.init
    _, exp, finished, rc, out = _interrupted_search(tmp_path, small_data,
                                                    lambda pid: os.kill(pid, signal.SIGTERM))
    assert finished and rc == 143, out[-3000:]
    assert json.loads((exp / "summary.json").read_text())["state"] == "interrupted"
    assert "resume with:\npython tune/search.py" in out


@pytest.mark.slow
def test_ctrl_c_mid_search_then_resume(tmp_path, small_data):
    store, exp, finished, rc, out = _interrupted_search(
        tmp_path, small_data, lambda pid: os.killpg(pid, signal.SIGINT))  # Ctrl-C: the group
    assert finished and rc == 130, out[-3000:]
    lb = pd.read_csv(exp / "leaderboard.csv", dtype={"trial_id": str})
    summary = json.loads((exp / "summary.json").read_text())
    done = set(lb.loc[lb["status"] == "TERMINATED", "trial_id"])
    assert done <= set(_finished(exp, EPOCHS)), "a trial that did not finish claims TERMINATED"
    assert set(lb["status"]) <= {"TERMINATED", INTERRUPTED, PENDING} and len(done) < 5
    assert summary["state"] == "interrupted"
    assert summary["state_line"] == f"interrupted: {len(done)} of 5 trials finished"
    # a trial that never ran shows only what it was given: the pinned batch limit, never an invented 0
    assert (lb.loc[lb["status"] == PENDING, "config/limit_train_batches"].fillna(BATCHES) == BATCHES).all()
    assert "resume with:\npython tune/search.py" in out
    assert int(out.rsplit("stopped in ", 1)[1].rstrip("s")) < 60, "a stop signal should end the search in seconds"

    # a bare resume (settings from invocation.json) finishes the experiment; no finished trial runs again
    assert search.main(["--storage", str(store), "--name", "i", "--resume", "--num-cpus", "2", "--verbose", "0"]) == 0
    lb = pd.read_csv(exp / "leaderboard.csv", dtype={"trial_id": str})
    h = pd.read_csv(exp / "history.csv", dtype={"trial_id": str})
    assert len(lb) == 5 and (lb["status"] == "TERMINATED").all() and (lb["epochs_run"] == EPOCHS).all()
    for trial_id, reports in finished.items():
        assert (h["trial_id"] == trial_id).sum() == reports == EPOCHS
    assert json.loads((exp / "summary.json").read_text())["state"] == "finished"


def test_paused_trials_of_a_finished_hyperband_search_are_not_resumable():
    from tune.results import _interrupted_statuses

    finished = {"a": "TERMINATED", "b": "PAUSED", "c": "TERMINATED"}  # HyperBand never resumed b: it is done
    assert _interrupted_statuses(finished, expected_trials=3) == {"a": "TERMINATED", "c": "TERMINATED"}
    stopped = {"a": "TERMINATED", "b": "PAUSED", "c": "PENDING"}  # Ctrl-C: c was running, b waits for a rung
    assert _interrupted_statuses(stopped, expected_trials=3) == stopped
    missing = {"a": "TERMINATED", "b": "PAUSED"}  # the searcher had not created every trial yet
    assert _interrupted_statuses(missing, expected_trials=3) == missing


def test_an_inherited_ignored_sigint_is_handled_before_the_fit():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as for a driver started with `&` from a script
    signals = Signals().install()
    try:
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
    finally:
        signals.uninstall()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # restored as found
        signal.signal(signal.SIGINT, previous)
