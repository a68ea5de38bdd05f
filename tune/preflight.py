"""Checks a search makes before Ray starts: every backbone and tokenizer of the plan can be loaded here; the
plan's numbers are in range; the GPUs asked for exist; the storage can be written.

A dry run only asks where each would come from (local directory, Hugging Face cache, hub, offline build) and
fails in one line when one is missing; a real run also downloads or builds what is needed, then pins the
trials to what was resolved (e.g. the offline build's directory), so no trial ever waits on the hub.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from trainables.backbones import BackboneUnavailable, Kind, acquire_backbone, plan_backbone
from trainables.config import ConfigError
from trainables.fileio import check_output
from trainables.precision import cpu_precision_warning

if TYPE_CHECKING:
    from tune.search import Plan


def _needs(p: Plan) -> list[tuple[str, str, Kind]]:
    """(config key, name, kind) for every backbone/tokenizer the plan's trials load, deduplicated."""
    out: list[tuple[str, str, Kind]] = []
    for cfg in p.variants:
        items: list[tuple[str, str, Kind]] = [("backbone", cfg.backbone, "config" if cfg.random_init else "model")]
        if cfg.tokenizer:
            items.append(("tokenizer", cfg.tokenizer, "tokenizer"))
        out.extend(i for i in items if i not in out)
    return out


def check_backbones(p: Plan, *, acquire: bool, progress=print) -> Plan:
    """Dry run (`acquire=False`): say where each model comes from, raise BackboneUnavailable if one is
    missing. Real run: also download/build, and return a plan whose trials load the resolved locations."""
    try:
        return _check(p, acquire=acquire, progress=progress)
    except BackboneUnavailable as e:
        raise BackboneUnavailable(str(e).replace("--space SPACE", f"--space {p.space.name}")) from None


def _check(p: Plan, *, acquire: bool, progress) -> Plan:
    pinned: dict[str, str] = {}
    for key, name, kind in _needs(p):
        if not acquire:
            res = plan_backbone(name, kind=kind)
            if res.source == "missing":
                raise BackboneUnavailable(res.detail)
            progress(f"{key:<11} {name}: {res.detail}")
            continue
        res = acquire_backbone(name, kind=kind, progress=progress)
        if res.source in ("built", "build") or (res.source == "local" and res.location != name):
            progress(f"{key:<11} {name}: {res.detail}")
        if res.location != name:
            if key in p.space.search and key not in p.pins:
                raise BackboneUnavailable(
                    f"{key} {name!r} resolves to {res.location}, but {key} is searched in {p.space.path}: pin it "
                    f"with --set {key}={res.location} or list that directory in the space"
                )
            pinned[key] = res.location
    if not pinned:
        return p
    fixed = {**p.fixed, **pinned}
    return replace(p, fixed=fixed, variants=p.space.backbone_variants({**fixed, **p.pins}))


def check_schedule(scheduler: str, search_alg: str, *, max_epochs: int, grace_period: float,
                   reduction_factor: float, num_samples: int) -> None:
    """The plan's numbers, checked before Ray starts (and again by tune/ray_space.make_scheduler)."""
    if search_alg == "bohb" and scheduler != "hyperband":
        raise ConfigError("--search-alg bohb needs --scheduler hyperband (BOHB runs on HyperBand brackets)")
    if num_samples < 1:
        raise ConfigError(f"--num-samples {num_samples}: must be >= 1")
    if max_epochs < 1:
        raise ConfigError(f"--max-epochs {max_epochs}: must be >= 1")
    if grace_period <= 0:
        raise ConfigError(f"--grace-period {grace_period:g} must be > 0 (epochs; fractions such as 0.25 allowed)")
    if grace_period > max_epochs:
        raise ConfigError(f"--grace-period {grace_period:g} must be <= --max-epochs {max_epochs}")
    if reduction_factor <= 1:
        raise ConfigError(f"--reduction-factor {reduction_factor:g} must be > 1 (e.g. 3: keep a third at each rung)")


def check_resources(args: argparse.Namespace) -> None:
    """Out-of-range resource flags, and GPUs asked of a local run that this machine does not have."""
    limits = (("--gpus-per-trial", args.gpus_per_trial, 0), ("--max-failures", args.max_failures, -1),
              ("--workers-per-trial", args.workers_per_trial, 1), ("--max-concurrent", args.max_concurrent, 0))
    for flag, value, low in limits:
        if value < low:
            raise ConfigError(f"{flag} {value:g}: must be >= {low}")
    if args.num_cpus is not None and args.num_cpus < 1:
        raise ConfigError(f"--num-cpus {args.num_cpus}: must be >= 1")
    if args.seed < 0:
        raise ConfigError(f"--seed {args.seed}: must be >= 0")
    if args.name is not None and (not args.name.strip() or args.name in (".", "..") or "/" in args.name
                                  or "\\" in args.name):
        raise ConfigError(f"--name {args.name!r}: must be one folder name (no '/'); --storage says where it goes")
    if args.gpus_per_trial <= 0 or args.address:  # a cluster's GPUs are Ray's to count once it is joined
        return
    import torch

    have, need = torch.cuda.device_count(), args.gpus_per_trial * args.workers_per_trial
    if need > have:
        workers = f" x {args.workers_per_trial} workers" if args.workers_per_trial > 1 else ""
        raise ConfigError(
            f"--gpus-per-trial {args.gpus_per_trial:g}{workers} needs {need:g} GPU(s) per trial but this machine has "
            f"{have} (torch.cuda.device_count()); drop the flag to train on CPU, or pass --address of a GPU cluster"
        )


def check_trial_fits(args: argparse.Namespace) -> None:
    """A local run whose trial asks more CPUs than the instance has would wait forever: refuse it now."""
    if args.address:
        return  # a cluster's nodes are Ray's to count
    import os

    have = args.num_cpus or os.cpu_count() or 1
    need = args.cpus_per_trial * args.workers_per_trial
    if need > have:
        workers = f" x {args.workers_per_trial} workers" if args.workers_per_trial > 1 else ""
        raise ConfigError(
            f"--cpus-per-trial {args.cpus_per_trial:g}{workers} needs {need:g} CPUs per trial but the local Ray "
            f"instance has {have} (--num-cpus, else this machine's cores): no trial could start; lower it"
        )


def precision_warnings(p: Plan, args: argparse.Namespace) -> list[str]:
    """A local CPU search whose trials would autocast to bf16 on a CPU without native bf16 (many times slower)."""
    if args.address or args.gpus_per_trial > 0:
        return []  # trials run on GPUs, or on a cluster's nodes whose CPUs are not this one
    precisions = {cfg.precision for cfg in p.variants}
    if "precision" in p.space.search and "precision" not in p.pins:
        precisions |= {str(v) for v in p.space.search["precision"].values()}
    return [line for prec in sorted(precisions) if (line := cpu_precision_warning(prec))]


def check_storage(p: Plan, resume: bool) -> None:
    """A local --storage must be writable (with some room) and the experiment new unless resumed."""
    if "://" in p.storage:
        return
    check_output(p.storage, flag="--storage", min_free_mb=200)
    exp = Path(p.experiment)
    if not resume and exp.is_dir() and any(exp.iterdir()):
        raise ConfigError(f"experiment folder {exp} already exists: pass --resume to continue it, "
                          "or choose another --name")
