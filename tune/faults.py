"""What the driver does about faults, called from tune/search.py: a checked resume, a finished experiment left
alone, a full disk or an unreadable Ray state reported in one line, and an interrupted search that says so.

The pieces: tune/invocation.py (what a resume must repeat), tune/lock.py and tune/lease.py (one driver per
experiment), tune/interrupt.py (signals and true trial statuses), tune/ray_exit.py (leaving Ray after a stop
signal), tune/storage.py (disk space).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainables.config import ConfigError
from trainables.fileio import OutputError
from tune import invocation, storage
from tune.interrupt import Signals
from tune.terminal import shell_lines

if TYPE_CHECKING:
    from tune.search import Plan


def _summary(exp: str) -> dict[str, Any] | None:
    if "://" in exp:
        return None
    try:
        return json.loads((Path(exp) / "summary.json").read_text())
    except (OSError, ValueError):
        return None


def inherit(args: argparse.Namespace, argv: list[str], build_parser) -> argparse.Namespace:
    root = args.storage if "://" in args.storage else str(Path(args.storage).expanduser().resolve())
    return invocation.inherit(args, argv, build_parser, f"{root.rstrip('/')}/{args.name}")


def check_invocation(p: Plan, args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    """The invocation to record; on --resume, refuse (ResumeMismatch) settings that differ from the first run."""
    record = invocation.describe(p, args, argv)
    if args.resume:
        invocation.check_resume(p.experiment, record)
    return record


def already_finished(p: Plan, args: argparse.Namespace) -> bool:
    """--resume of a finished experiment: say so and change nothing."""
    summary = _summary(p.experiment) if args.resume else None
    if not summary or summary.get("state") != "finished":
        return False
    best = summary.get("best_val_pearson")
    print(f"experiment {p.experiment} already finished ({summary.get('num_trials')} trials, best val_pearson "
          f"{best if best is None else round(best, 4)} by trial {summary.get('best_trial_id')}): nothing to "
          "resume, nothing changed")
    return True


def record_invocation(exp: str, record: dict[str, Any], resume: bool) -> None:
    """Write invocation.json for a new experiment (a resume keeps the first run's record)."""
    if not (resume and invocation.read(exp) is not None):
        invocation.write(exp, record)


def ray_state_saved(exp: str, tune) -> bool:
    """Whether Ray saved the experiment's trial state. A driver killed in its first seconds leaves only
    tuner.pkl (and our invocation.json): restoring that fails inside Ray (a searcher without its space), while
    nothing ran that a fresh start with the recorded settings would lose."""
    if "://" in exp:
        return tune.Tuner.can_restore(exp)
    if any(Path(exp).glob("experiment_state-*.json")):
        return True
    if not Path(exp).is_dir():  # most likely a typo in --storage/--name: never start a search the user did not ask for
        raise ConfigError(f"--resume: no experiment to resume at {exp} (check --storage and --name)")
    print(f"[sts-tune] {exp} stopped before Ray saved any trial state: starting it afresh with its recorded "
          "settings", flush=True)
    return False


def restore(tune, exp: str, trainable, record: dict[str, Any]):
    """Tuner.restore, with an unreadable saved state (a full disk cut it) reported in one line."""
    _check_saved_state(exp)
    try:
        return tune.Tuner.restore(exp, trainable=trainable, resume_unfinished=True, resume_errored=True)
    except Exception as e:
        if storage.no_space(e):
            raise OutputError(storage.no_space_line(exp, 0, record["resume_command"])) from None
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        raise ConfigError(
            f"--resume: Ray's saved state in {exp} cannot be read ({type(e).__name__}{': ' + first if first else ''})"
            "; it was probably cut short by a full disk or a crash while saving: start a new --name"
        ) from None


def _check_saved_state(exp: str) -> None:
    """Ray reads its newest experiment_state-*.json only inside fit(): check it parses before that."""
    if "://" in exp:
        return
    files = sorted(Path(exp).glob("experiment_state-*.json"), key=lambda f: f.name)
    if not files:
        return
    try:
        json.loads(files[-1].read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(
            f"--resume: Ray's saved state {files[-1]} is cut short or damaged ({type(e).__name__}: "
            f"{str(e)[:120]}), probably by a full disk or a crash while saving; the finished trials are in "
            "leaderboard.csv: start a new --name to search further"
        ) from None


def fit(tuner, p: Plan, per_trial_mb: float, record: dict[str, Any]):
    """tuner.fit(); a full disk (however Ray wrapped it) ends in the one-line OutputError."""
    from tune.interrupt import reinstall

    reinstall()  # after ray.init: SIGTERM stops the search gracefully instead of aborting the driver
    try:
        return tuner.fit()
    except Exception as e:
        if storage.no_space(e) or _short(p, per_trial_mb):
            raise OutputError(storage.no_space_line(p.storage, per_trial_mb, record["resume_command"])) from None
        raise


def _short(p: Plan, per_trial_mb: float) -> bool:
    free = storage.free_mb(p.storage)
    return free is not None and free < max(per_trial_mb, 1.0)


def check_results(results, p: Plan, per_trial_mb: float, record: dict[str, Any]) -> None:
    """After the experiment files are written: a search stopped for space (tune/diskwatch.py), or trials that
    failed on a full disk, end in one line."""
    from tune import diskwatch

    if diskwatch.fired():
        raise OutputError(storage.no_space_line(p.storage, per_trial_mb, record["resume_command"]))
    for result in results:
        if result.error is not None and (storage.no_space(result.error) or storage.no_space(str(result.error))):
            raise OutputError(storage.no_space_line(p.storage, per_trial_mb, record["resume_command"]))


def disk_watch(p: Plan, per_trial_mb: float):
    """The Tune callback that stops the search cleanly when the storage fills (tune/diskwatch.py)."""
    from tune.diskwatch import DiskWatch, reset

    reset()
    storage.reserve(p.experiment)
    return DiskWatch(p.storage, p.experiment, per_trial_mb)


def wall_seconds(exp: str, seconds: float, resume: bool) -> float:
    """The search's wall time over all its runs: a resume adds to the first run's."""
    previous = (_summary(exp) or {}).get("wall_seconds") if resume else None
    return seconds + (float(previous) if isinstance(previous, (int, float)) else 0.0)


def print_interrupted(summary: dict[str, Any], record: dict[str, Any]) -> bool:
    """For an interrupted search: the state line and the exact command that resumes it (True when printed)."""
    if summary.get("state") != "interrupted":
        return False
    print(f"\n{summary['state_line']} (unfinished trials are INTERRUPTED or PENDING in leaderboard.csv, never "
          "TERMINATED)")
    print(f"resume with:\n{shell_lines(record['resume_command'])}", flush=True)
    return True


def exit_code(summary: dict[str, Any] | None, signals: Signals) -> int:
    if summary is not None and summary.get("state") == "interrupted":
        return signals.exit_code()
    return 0


def interrupted_early(p: Plan | None, record: dict[str, Any] | None, signals: Signals) -> int:
    """A stop signal outside Ray's graceful handling (before the fit, or a second Ctrl-C)."""
    print("\ninterrupted", file=sys.stderr, end="")
    if p is not None and record is not None and Path(p.experiment).joinpath("tuner.pkl").exists():
        print(f": resume with:\n{shell_lines(record['resume_command'])}", file=sys.stderr)
    else:
        print(" before the search started: nothing to resume", file=sys.stderr)
    return signals.exit_code()


def no_space_exit(e: OSError, p: Plan | None, record: dict[str, Any] | None) -> int:
    """Exit 2 with the one line for a full disk; any other OSError is not ours to explain."""
    if p is None or not storage.no_space(e):
        raise e
    per_trial = storage.estimate_trial_mb(p)
    print(f"error: {storage.no_space_line(p.storage, per_trial, (record or {}).get('resume_command', '--resume'))}",
          file=sys.stderr)
    return 2
