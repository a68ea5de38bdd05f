"""Fit a search to the machine: CPUs per trial, the local Ray instance's CPUs, and trial-worker reuse.

Explicit flags always win; only what the user left unset is derived:

- `--num-cpus` of a fresh local Ray instance: the CPUs this process may really use (its CPU affinity, e.g.
  `taskset`/cpusets, and a cgroup CPU quota), not `os.cpu_count()`, so trials never outnumber the cores.
- `--cpus-per-trial` (= torch threads per trial): the space's `scheduler.cpus_per_trial` when it has one
  (clipped to the local cores, or the trial could never be placed); otherwise the cores shared out over the
  trials that can run at once (at most `MAX_AUTO_THREADS` each: small models scale poorly past that), so a
  16-core machine running 8 trials gives each 2 threads and a 2-core machine runs 2 one-thread trials.
- `--max-concurrent` 0 stays "as resources allow": with the CPUs above, that is cores // cpus_per_trial.
- `--reuse-workers auto`: reuse trial workers (Tune's actor reuse: imports, tokenizer and token arrays stay
  warm) for CPU trials; never for GPU trials, whose CUDA memory is only reliably returned by a fresh process
  (../shared/docs/ray-notes.md, pain point 2), nor for DDP trials (their workers are Ray Train's).
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
from typing import Any

from trainables.config import ConfigError

MAX_AUTO_THREADS = 4
REUSE_CHOICES = ("auto", "on", "off")


def add_resource_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cpus-per-trial", type=float, default=None,
                   help="CPUs (= torch threads) per trial (default: the space's scheduler.cpus_per_trial, "
                        "else this machine's usable cores shared out over the trials; see tune/machine.py)")
    p.add_argument("--gpus-per-trial", type=float, default=0.0, help="fractions allowed, e.g. 0.25")
    p.add_argument("--workers-per-trial", type=int, default=1,
                   help="DDP workers per trial (Ray Train inside the Tune trial) for backbones too big for one GPU")
    p.add_argument("--max-concurrent", type=int, default=0, help="trials at once (0 = as resources allow)")
    p.add_argument("--reuse-workers", default="auto", choices=REUSE_CHOICES,
                   help="run trials one after another in the same worker process (imports, tokenizer and token "
                        "arrays stay warm); auto = on for CPU trials, off for GPU and DDP trials")


def cgroup_cpu_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs allowed by a cgroup CPU quota (v2 `cpu.max`, v1 `cfs_quota_us / cfs_period_us`); None without one."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return quota_us / period_us if quota_us > 0 and period_us > 0 else None
    except (OSError, ValueError):
        return None


def usable_cpus() -> int:
    """CPUs this process can actually run on: its affinity mask, capped by a cgroup quota; at least 1."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        n = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    if quota is not None:
        n = min(n, max(1, math.floor(quota)))
    return max(1, n)


def default_cpus_per_trial(cores: int, num_samples: int, space_pref: float | None) -> float:
    """The space's preference (clipped to `cores`), else the cores shared out over the trials that run at once."""
    if space_pref is not None:
        return float(min(space_pref, cores))
    at_once = max(1, min(num_samples, cores))
    return float(max(1, min(MAX_AUTO_THREADS, cores // at_once)))


def fit_machine(args: argparse.Namespace, scheduler: dict[str, Any], num_samples: int) -> None:
    """Fill the resource flags the user left unset (in place); see the module docstring."""
    local = not args.address
    if local and args.num_cpus is None:
        args.num_cpus = usable_cpus()
    cores = args.num_cpus if local else None
    if args.cpus_per_trial is None:
        pref = scheduler.get("cpus_per_trial")
        pref = float(pref) if pref is not None else None
        if cores is None:  # a cluster: its nodes are not known before joining it
            args.cpus_per_trial = pref if pref is not None else 1.0
        else:
            args.cpus_per_trial = default_cpus_per_trial(cores, num_samples, pref)
    if args.cpus_per_trial <= 0:
        raise ConfigError(f"--cpus-per-trial {args.cpus_per_trial:g}: must be > 0")


def reuse_workers(args: argparse.Namespace) -> bool:
    """Whether Tune keeps trial workers for the next trial (`TuneConfig(reuse_actors=...)`)."""
    if args.reuse_workers != "auto":
        return args.reuse_workers == "on"
    return args.gpus_per_trial == 0 and args.workers_per_trial == 1
