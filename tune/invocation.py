"""The experiment's record of how it was started (invocation.json), and the check `--resume` makes against it.

Ray restores a search from its own pickled state: the space, pins, sampler, scheduler and trial count of the
first run. A `--resume` with other values would be silently ignored for the trials yet printed in the plan and
written into summary.json, so it is refused in one line naming the difference. Flags that only say where and
how fast to run (`MAY_CHANGE`) may differ.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainables.config import ConfigError
from trainables.fileio import atomic_write_text

if TYPE_CHECKING:
    from tune.search import Plan

INVOCATION_FILE = "invocation.json"
# flags a resume may change: where Ray runs, how many trials at once, how much it prints
MAY_CHANGE = ("max_concurrent", "address", "num_cpus", "verbose", "storage_is_shared", "dry_run", "resume",
              "list_spaces", "storage", "name")
# what the search is, as resolved from the flags (key -> the flag to name in a refusal)
CHECKED = {
    "space": "--space", "space_sha256": "--space (the space file's content)", "pins": "--set",
    "num_samples": "--num-samples", "search_alg": "--search-alg", "scheduler": "--scheduler",
    "max_epochs": "--max-epochs", "grace_period": "--grace-period", "reduction_factor": "--reduction-factor",
    "seed": "--seed", "default_first": "--no-default-first", "cpus_per_trial": "--cpus-per-trial",
    "gpus_per_trial": "--gpus-per-trial", "workers_per_trial": "--workers-per-trial",
    "max_failures": "--max-failures", "wandb": "--wandb",
}


class ResumeMismatch(ConfigError):
    """`--resume` with arguments that differ from the experiment's first run."""


def _sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def resume_command(argv: list[str]) -> str:
    """The command line that resumes this search: the same arguments plus --resume."""
    args = [a for a in argv if a != "--resume"]
    return shlex.join(["python", "tune/search.py", *args, "--resume"])


def describe(p: Plan, args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    """The invocation as recorded: argv, the resolved search settings (CHECKED), and where it ran."""
    record: dict[str, Any] = {
        "argv": list(argv),
        "resume_command": resume_command(argv),
        "space": p.space.name,
        "space_path": str(p.space.path),
        "space_sha256": _sha256(Path(p.space.path)),
        "pins": json.loads(json.dumps(p.pins, default=str)),
        "num_samples": p.num_samples,
        "max_epochs": p.max_epochs,
        "grace_period": p.grace_period,
        "reduction_factor": p.reduction_factor,
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    for key in CHECKED:
        if key not in record:
            record[key] = getattr(args, key)
    return record


def write(exp_dir: str, record: dict[str, Any]) -> None:
    if "://" in exp_dir:
        return
    atomic_write_text(Path(exp_dir) / INVOCATION_FILE, json.dumps(record, indent=2, ensure_ascii=False))


def read(exp_dir: str) -> dict[str, Any] | None:
    if "://" in exp_dir:
        return None
    path = Path(exp_dir) / INVOCATION_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path} is unreadable ({e}); restore it or start a new --name") from None


def given_dests(parser: argparse.ArgumentParser, argv: list[str]) -> set[str]:
    """The destinations of the flags actually present in `argv` (defaults left out)."""
    for action in parser._actions:
        action.default = argparse.SUPPRESS
    return set(vars(parser.parse_args(argv)))


def inherit(args: argparse.Namespace, argv: list[str], build_parser, exp_dir: str) -> argparse.Namespace:
    """For --resume: every search setting not given now is the first run's (from invocation.json's argv), so
    `--storage S --name N --resume` resumes as started; a setting given now must agree (check_resume)."""
    recorded = read(exp_dir)
    if not recorded or not isinstance(recorded.get("argv"), list):
        return args
    given = given_dests(build_parser(), argv)
    try:
        first = build_parser().parse_args(recorded["argv"])
    except SystemExit:
        raise ConfigError(f"{Path(exp_dir) / INVOCATION_FILE}: its argv no longer parses; resume with a "
                          "version of tune/search.py that accepts it, or start a new --name") from None
    for dest, value in vars(first).items():
        if dest not in given and dest not in MAY_CHANGE:
            setattr(args, dest, value)
    return args


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return " ".join(f"{k}={v}" for k, v in sorted(value.items())) or "(none)"
    return "(default)" if value is None else str(value)


def differences(recorded: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """One phrase per checked setting that differs, e.g. "--set lr: 0.5 now, unset before"."""
    out: list[str] = []
    for key, flag in CHECKED.items():
        if key not in recorded:  # recorded by an older version: not checkable
            continue
        old, new = recorded[key], now.get(key)
        if key == "pins":
            old, new = old or {}, new or {}
            for k in sorted(set(old) | set(new)):
                if json.dumps(old.get(k), sort_keys=True) != json.dumps(new.get(k), sort_keys=True):
                    was = "unset" if k not in old else repr(old[k])
                    now_ = "unset" if k not in new else repr(new[k])
                    out.append(f"--set {k}: {now_} now, {was} when the experiment started")
            continue
        if key == "space_sha256":
            if old and new and old != new and recorded.get("space") == now.get("space"):
                out.append(f"the space file {now.get('space_path')} changed since the experiment started")
            continue
        if json.dumps(old, sort_keys=True) != json.dumps(new, sort_keys=True):
            out.append(f"{flag}: {_show(new)} now, {_show(old)} when the experiment started")
    return out


def check_resume(exp_dir: str, now: dict[str, Any]) -> dict[str, Any] | None:
    """Refuse a resume whose search settings differ from the recorded ones; the record (None if never made)."""
    recorded = read(exp_dir)
    if recorded is None:
        return None
    diff = differences(recorded, now)
    if diff:
        more = f" (and {len(diff) - 1} more)" if len(diff) > 1 else ""
        raise ResumeMismatch(
            f"--resume of {exp_dir}: {diff[0]}{more}; a resumed search keeps its first settings, so resume with "
            f"the same arguments ({recorded.get('resume_command', 'see invocation.json')}) or start a new --name"
        )
    return recorded
