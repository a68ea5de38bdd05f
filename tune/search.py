"""Hyperparameter search over a named space with Ray Tune (ASHA/HyperBand/PBT early stopping).

    python tune/search.py --space tiny --num-samples 8 --max-epochs 3 --storage OUT --name t
    python tune/search.py --space roberta_large --dry-run
    python tune/search.py --list-spaces

Leaves OUT/NAME/ with Ray's files plus leaderboard.csv, history.csv, summary.json and data.json
(see docs/experiment-format.md): the input of ensemble/select.py and tune/report.py.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainables.config import ALL_FOLDS, ConfigError, TrialConfig, parse_overrides
from trainables.data import DataError
from trainables.fileio import OutputError
from trainables.metrics import METRIC, MODE
from trainables.paths import cache_root
from trainables.space import SearchSpace, SpaceError, list_spaces, load_space
from tune import faults, preflight, ray_exit, storage
from tune.interrupt import Signals
from tune.lock import held
from tune.machine import add_resource_arguments, fit_machine, reuse_workers
from tune.preflight import check_backbones, check_resources, check_schedule, check_storage, check_trial_fits
from tune.storage import check_storage_for_cluster
from tune.terminal import say

# checkpoints are reported only on improvement and pruned to one per trial; Tune's warning about
# frequent experiment snapshots is expected noise for short trials
os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")

FORWARDED_ENV_PREFIXES = ("STS_TUNE_", "HF_", "TRANSFORMERS_", "WANDB_")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--space", default="tiny", help="search space name (search_spaces/NAME.yaml) or a YAML path")
    p.add_argument("--list-spaces", action="store_true", help="print the available spaces and exit")
    p.add_argument("--num-samples", type=int, default=None, help="trials to sample (default: the space's)")
    p.add_argument("--search-alg", default="optuna", choices=("random", "grid", "optuna", "bohb"))
    p.add_argument("--scheduler", default="asha", choices=("asha", "hyperband", "median", "pbt", "fifo"))
    p.add_argument("--max-epochs", type=int, default=None, help="epochs per trial at most (default: the space's)")
    p.add_argument("--grace-period", type=float, default=None,
                   help="epochs before a trial can be stopped; fractions (e.g. 0.25) need val_checks_per_epoch >= 4")
    p.add_argument("--reduction-factor", type=float, default=None, help="ASHA/HyperBand reduction factor")
    add_resource_arguments(p)  # --cpus-per-trial, --gpus-per-trial, --workers-per-trial, --max-concurrent, …
    p.add_argument("--storage", default="~/sts-tune-results", help="PATH, NFS path, s3://… or gs://…")
    p.add_argument("--storage-is-shared", action="store_true",
                   help="assert that a local --storage path is mounted at the same place on every node")
    p.add_argument("--name", default=None, help="experiment name (default: SPACE-TIMESTAMP)")
    p.add_argument("--resume", action="store_true", help="resume the experiment STORAGE/NAME where it stopped")
    p.add_argument("--address", default=None, help="join an existing Ray cluster ('auto' or host:port)")
    p.add_argument("--num-cpus", type=int, default=None,
                   help="CPUs of a fresh local Ray instance (default: the CPUs this process may use)")
    p.add_argument("--max-failures", type=int, default=2, help="retries per trial, each from its last checkpoint")
    p.add_argument("--wandb", default=None, metavar="PROJECT", help="log each trial as a W&B run (group = name)")
    p.add_argument("--no-default-first", dest="default_first", action="store_false",
                   help="let the searcher sample every trial (by default the space's default point runs first)")
    p.add_argument("--seed", type=int, default=0, help="seed of the search algorithm and of every trial")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="pin a knob for every trial, e.g. --set max_length=96 (repeatable)")
    p.add_argument("--folds", type=int, default=None, metavar="K",
                   help="train each sampled config on all K folds of train+dev as one candidate (out-of-fold "
                        "predictions; same as --set num_folds=K --set fold=-1)")
    p.add_argument("--dry-run", action="store_true", help="validate space and data, print the plan, start nothing")
    p.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2, 3),
                   help="1: a line per trial event (default); 0: summary only; 2: Ray's table; 3: more")
    return p


# --- planning (no Ray) -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    """What a search will run, resolved from the space, the flags and the pins before Ray starts."""

    space: SearchSpace
    pins: dict[str, Any]  # --set key=value: fixed for every trial, win over the space
    fixed: dict[str, Any]  # values the driver fixes for every trial (max_epochs, seed, cache_dir, num_threads)
    max_epochs: int
    grace_period: float  # epochs; fractions put rungs inside an epoch (needs val_checks_per_epoch)
    reduction_factor: float
    num_samples: int
    storage: str  # absolute local path or a URI
    name: str
    experiment: str  # storage/name: the experiment directory
    variants: list[TrialConfig]  # one config per backbone variant: what the driver tokenizes once


def fold_pins(folds: int, pins: dict[str, Any]) -> dict[str, Any]:
    if folds < 2:
        raise ConfigError(f"--folds {folds}: must be >= 2 (K folds of train+dev, each config trained on all K)")
    wanted = {"num_folds": folds, "fold": ALL_FOLDS}
    for key, value in wanted.items():
        if key in pins and pins[key] != value:
            raise ConfigError(f"--folds {folds} sets {key}={value} but --set {key}={pins[key]} says otherwise: "
                              "drop one of them")
    return wanted


def plan(args: argparse.Namespace) -> Plan:
    space = load_space(args.space)
    pins = parse_overrides(args.overrides)
    if args.folds is not None:
        pins = {**pins, **fold_pins(args.folds, pins)}
    sched = space.scheduler
    given = lambda value, default: default if value is None else value  # noqa: E731 (0 is given, not default)
    max_epochs = given(args.max_epochs, int(pins.get("max_epochs", sched.get("max_epochs", 3))))
    # the space's grace period is a default: it shrinks to fit a shorter --max-epochs; a given one must fit
    grace = given(args.grace_period, min(float(sched.get("grace_period", 1)), max(max_epochs, 1)))
    rf = given(args.reduction_factor, float(sched.get("reduction_factor", 3)))
    # a grid is enumerated whole: num_samples repeats it, so one pass unless asked for more
    default_samples = 1 if args.search_alg == "grid" else int(sched.get("num_samples", 10))
    num_samples = given(args.num_samples, default_samples)
    fit_machine(args, sched, num_samples)  # unset --num-cpus/--cpus-per-trial from the machine (tune/machine.py)
    check_schedule(args.scheduler, args.search_alg, max_epochs=max_epochs, grace_period=grace,
                   reduction_factor=rf, num_samples=num_samples)
    storage = args.storage if "://" in args.storage else str(Path(args.storage).expanduser().resolve())
    name = args.name or f"{space.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    cache = str(cache_root(pins.get("cache_dir") or None))
    fixed = {"max_epochs": max_epochs, "seed": args.seed, "cache_dir": cache}
    if "num_threads" not in pins and "num_threads" not in space.fixed:
        fixed["num_threads"] = max(1, int(args.cpus_per_trial))
    variants = space.backbone_variants({**fixed, **pins})
    return Plan(
        space=space, pins=pins, fixed=fixed, max_epochs=max_epochs, grace_period=grace, reduction_factor=rf,
        num_samples=num_samples, storage=storage, name=name, experiment=f"{storage.rstrip('/')}/{name}",
        variants=variants,
    )


def print_plan(p: Plan, args: argparse.Namespace) -> None:
    space = p.space
    print(f"space       {space.name}  ({space.path})")
    if space.description:
        say(f"            {' '.join(space.description.split())}", indent=12, width=120)
    unit = "passes over the grid" if args.search_alg == "grid" else "samples"
    print(f"search      {args.search_alg} x {p.num_samples} {unit}, scheduler {args.scheduler} "
          f"(max_epochs {p.max_epochs}, grace {p.grace_period}, reduction {p.reduction_factor:g})")
    print(f"resources   {args.cpus_per_trial:g} CPU, {args.gpus_per_trial:g} GPU per trial"
          f"{f' x {args.workers_per_trial} DDP workers' if args.workers_per_trial > 1 else ''}; "
          f"max concurrent {args.max_concurrent or 'as resources allow'}"
          f"{f' ({args.num_cpus} CPUs)' if args.num_cpus else ''}; retries {args.max_failures}; "
          f"workers {'reused' if reuse_workers(args) else 'fresh per trial'}")
    print(f"experiment  {p.experiment}{'  (resume)' if args.resume else ''}")
    print(f"cluster     {args.address or 'fresh local Ray instance'}")
    print("fixed:")
    for k, v in {**space.fixed, **p.fixed, **p.pins}.items():
        say(f"  {k} = {v}")
    print("searched:")
    for k, d in space.search.items():
        if k in p.pins:
            continue
        print(f"  {k} ~ {d.kind}{list(d.args)}  (default {d.default})")
    print("to tokenize once before the trials (backbone, tokenizer, max_length):")
    for cfg in p.variants:
        say(f"  {cfg.backbone}  tokenizer={cfg.tokenizer or '(backbone)'}  max_length={cfg.max_length}  "
              f"{'sentences apart (bi-encoder)' if cfg.separate_sentences else 'pairs (cross-encoder)'}"
              f"{'  preprocess=' + ','.join(cfg.preprocess) if cfg.preprocess else ''}")


def validate_data(p: Plan) -> dict[str, Any]:
    """Read and validate every data file the space uses (no tokenizer needed): fails before Ray starts."""
    from trainables.data import has_labels, load_splits

    cfg = p.variants[0]
    searched = p.space.search.get("batch_size") if "batch_size" not in p.pins else None
    batch = max(int(v) for v in searched.values()) if searched else cfg.batch_size  # no trial may lack one batch
    splits = load_splits(cfg.train_path, cfg.dev_path, cfg.test_path, cfg.data_format,
                         allow_overlap=cfg.allow_overlap, batch_size=batch, num_folds=cfg.num_folds)
    for line in splits.warnings:
        print(f"warning: {line}", file=sys.stderr)
    return {
        "train_path": splits.train_path, "dev_path": splits.dev_path, "test_path": splits.test_path or None,
        "train_rows": len(splits.train), "dev_rows": len(splits.dev),
        "test_rows": None if splits.test is None else len(splits.test),
        "dev_ids": splits.dev["id"].tolist(),
        "test_ids": None if splits.test is None else splits.test["id"].tolist(),
        "test_labelled": has_labels(splits.test),
    }


# --- run -------------------------------------------------------------------------------------------
def pretokenize(p: Plan) -> dict[str, dict[str, dict[str, float]]]:
    """Fill the token cache for every backbone variant on the driver, so trials only load arrays; return the
    no-training reference scores per backbone (trainables/baselines.py), computed once and cached."""
    from trainables.baselines import compute_baselines
    from trainables.pipeline import prepare_data

    baselines: dict[str, dict[str, dict[str, float]]] = {}
    for cfg in p.variants:
        t0 = time.perf_counter()
        data = prepare_data(cfg)
        state = "cached" if data.cache_misses == 0 else "tokenized"
        print(f"[sts-tune] {state} {cfg.tokenizer or cfg.backbone} (max_length {cfg.max_length}) in "
              f"{time.perf_counter() - t0:.1f}s", flush=True)
        if cfg.num_folds or cfg.backbone in baselines:
            continue  # fold dev sets differ per trial: no single reference score
        t0 = time.perf_counter()
        baselines[cfg.backbone] = compute_baselines(cfg, data.dev, data.test)
        print(f"[sts-tune] reference scores for {Path(cfg.backbone).name} in {time.perf_counter() - t0:.1f}s: "
              + "; ".join(f"{k} " + ", ".join(f"{s} {v:.3f}" for s, v in d.items())
                          for k, d in baselines[cfg.backbone].items()), flush=True)
    return baselines


def _runtime_env() -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_ENV_PREFIXES)}
    env.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    return {"env_vars": env}


def make_trainable(args: argparse.Namespace):
    from ray import tune

    if args.workers_per_trial > 1:
        from tune.ray_ddp import train_sts_ddp

        fn = tune.with_parameters(
            train_sts_ddp, num_workers=args.workers_per_trial, cpus_per_worker=args.cpus_per_trial,
            gpus_per_worker=args.gpus_per_trial,
        )
        # the trial itself only coordinates; its Ray Train workers hold the CPUs/GPUs
        return tune.with_resources(fn, {"cpu": 0.01})
    from tune.ray_trainable import train_sts

    return tune.with_resources(train_sts, {"cpu": args.cpus_per_trial, "gpu": args.gpus_per_trial})


def run(args: argparse.Namespace, p: Plan, data_info: dict[str, Any], trainable=None,
        baselines: dict[str, Any] | None = None, record: dict[str, Any] | None = None):
    import ray
    from ray import tune

    from tune.closing import print_closing
    from tune.interrupt import expected_trials
    from tune.live_view import LiveView, ray_output
    from tune.ray_space import make_scheduler, make_search_alg, param_space
    from tune.results import write_experiment_files

    record = record or {"resume_command": "python tune/search.py … --resume"}
    per_trial_mb = storage.estimate_trial_mb(p)
    started = time.perf_counter()
    ray_kwargs, ray_verbose = ray_output(args.verbose)
    owns_ray, stopped = not ray.is_initialized(), False  # stopped: by a stop signal
    try:
        if owns_ray:  # inside the try: a Ctrl-C during ray.init must still end Ray (tune/ray_exit.py)
            init_kwargs: dict[str, Any] = {"runtime_env": _runtime_env(), "include_dashboard": False, **ray_kwargs}
            if args.address:
                ray.init(address=args.address, **init_kwargs)
            else:
                ray.init(address="local", num_cpus=args.num_cpus, **init_kwargs)
        alive = sum(1 for n in ray.nodes() if n.get("Alive"))
        check_storage_for_cluster(p.storage, alive, args.storage_is_shared)
        space = p.space
        trainable = trainable or make_trainable(args)
        exp = p.experiment
        callbacks = [faults.disk_watch(p, per_trial_mb)]  # a full disk stops the search whole
        if args.verbose == 1:
            callbacks.append(LiveView(num_samples=p.num_samples, max_epochs=p.max_epochs,
                                      searched=[k for k in space.search if k not in p.pins],
                                      max_failures=args.max_failures))
        if args.wandb:
            from ray.air.integrations.wandb import WandbLoggerCallback

            callbacks.append(WandbLoggerCallback(project=args.wandb, group=p.name, log_config=True))
        run_config = tune.RunConfig(
            name=p.name,
            storage_path=p.storage,
            failure_config=tune.FailureConfig(max_failures=args.max_failures),
            checkpoint_config=tune.CheckpointConfig(
                # PBT clones a donor's checkpoint some time after choosing it: pruning could delete it first
                num_to_keep=None if args.scheduler == "pbt" else 1,
                checkpoint_score_attribute=METRIC, checkpoint_score_order=MODE,
            ),
            callbacks=callbacks,
            verbose=ray_verbose,
        )
        if args.resume and faults.ray_state_saved(exp, tune):
            print(f"[sts-tune] resuming {exp}", flush=True)
            tuner = faults.restore(tune, exp, trainable, record)
        else:  # a new search, or one stopped before Ray saved any trial state: nothing ran to keep
            search_alg = args.search_alg
            tuner = tune.Tuner(
                trainable,
                param_space=param_space(space, search_alg, p.fixed, p.pins),
                tune_config=tune.TuneConfig(
                    metric=METRIC,
                    mode=MODE,
                    search_alg=make_search_alg(search_alg, args.seed, args.max_concurrent, space, p.pins,
                                               default_first=args.default_first),
                    scheduler=make_scheduler(
                        args.scheduler, search_alg=search_alg, max_epochs=p.max_epochs,
                        grace_period=p.grace_period, reduction_factor=p.reduction_factor, space=space,
                        seed=args.seed,
                    ),
                    num_samples=p.num_samples,
                    trial_dirname_creator=lambda trial: trial.trial_id,
                    reuse_actors=reuse_workers(args),
                ),
                run_config=run_config,
            )
        _write_data_json(exp, data_info)
        faults.record_invocation(exp, record, args.resume)
        results = faults.fit(tuner, p, per_trial_mb, record)
        board, summary = write_experiment_files(
            exp, results, space=space.name, wall_seconds=faults.wall_seconds(exp, time.perf_counter() - started,
                                                                             args.resume),
            max_epochs=p.max_epochs, expected_trials=expected_trials(space, args.search_alg, p.num_samples, p.pins),
            extra={"search_alg": args.search_alg, "scheduler": args.scheduler, "num_samples": p.num_samples,
                   "baselines": baselines or {}},
        )
        stopped = summary.get("state") == "interrupted"
        faults.check_results(results, p, per_trial_mb, record)
        print_closing(exp, board, summary, baselines or {}, next_steps=not stopped)
        faults.print_interrupted(summary, record)
        return results, board, summary
    except KeyboardInterrupt:  # outside Ray's graceful stop: during ray.init, before the fit, a second Ctrl-C
        stopped = True
        raise
    finally:
        if owns_ray:
            ray_exit.stop_ray(stopped)


def _write_data_json(exp: str, info: dict[str, Any]) -> None:
    if "://" in exp:
        return
    from trainables.fileio import atomic_write_text

    atomic_write_text(Path(exp) / "data.json", json.dumps(info, ensure_ascii=False))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    if args.list_spaces:
        for name in list_spaces():
            try:
                s = load_space(name)
                print(f"{name:20s} {s.description.splitlines()[0] if s.description else ''}")
            except SpaceError as e:
                print(f"{name:20s} INVALID: {e}")
        return 0
    signals, p, record = Signals().install(), None, None
    try:
        if args.resume and args.name:  # settings not given now are the first run's (tune/invocation.py)
            args = faults.inherit(args, argv, build_parser)
        check_resources(args)
        p = plan(args)
        check_trial_fits(args)
        check_storage(p, args.resume)  # writable, with room, and a new experiment unless resumed
        record = faults.check_invocation(p, args, argv)  # a resume repeats the first run's settings
        if faults.already_finished(p, args):
            return 0
        data_info = validate_data(p)
        print_plan(p, args)
        for line in preflight.precision_warnings(p, args):
            print(f"warning: {line}", file=sys.stderr)
        say(f"data        train {data_info['train_rows']} rows ({data_info['train_path']}), dev "
            f"{data_info['dev_rows']} rows ({data_info['dev_path']})"
            + (f", test {data_info['test_rows']} rows" if data_info["test_rows"] else ", no test file")
            + (" (labelled: scored, never used to select)" if data_info.get("test_labelled") else ""),
            indent=12, width=120)
        p = check_backbones(p, acquire=not args.dry_run, progress=lambda line: say(line, indent=12))
        if args.dry_run:
            print("dry run: nothing started")
            return 0
        with held(p.experiment):  # one driver per experiment (tune/lock.py)
            if line := storage.warn_if_short(p, p.num_samples, storage.estimate_trial_mb(p)):
                print(f"warning: {line}", file=sys.stderr)
            baselines = pretokenize(p)
            summary = run(args, p, data_info, baselines=baselines, record=record)[2]
        return faults.exit_code(summary, signals)
    except (ConfigError, DataError, OutputError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return faults.interrupted_early(p, record, signals)
    except OSError as e:  # a full disk while writing the experiment's own files: one line, resumable
        return faults.no_space_exit(e, p, record)
    finally:
        signals.uninstall()
        if p is not None:
            storage.release_reserve(p.experiment)


if __name__ == "__main__":
    ray_exit.as_command()
    raise SystemExit(ray_exit.leave(main()))
