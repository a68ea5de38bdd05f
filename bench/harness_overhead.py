"""Ray Tune's harness overhead: N identical small trials under `tune/search.py` vs the same N run bare.

The sides are the command-line tools a user would run, as subprocesses, one trial at a time:

  tune        one `python tune/search.py --search-alg random --scheduler fifo --num-samples N --max-concurrent 1`
              with every searched knob pinned to the space's default by `--set` (N identical trials), trial
              workers reused (`--reuse-workers on`, the CPU default: imports and token arrays stay warm);
  tune-fresh  the same with `--reuse-workers off` (a new worker process per trial, the old default);
  bare        N x `python trainables/train.py --output DIR` with the same `--set` knobs, one after another.

So both pay, per trial, a fresh Python process with torch/transformers/Lightning imports, the token cache
load, the fit and a checkpoint write on each improvement; the difference is what Ray adds: `ray.init`,
worker scheduling, result reporting, checkpoint upload into the experiment folder and the experiment
files; a reused worker pays the process start and imports once instead of per trial. Trials run one at a
time on every side (`--max-concurrent 1`), else Tune would also gain from using both cores. The token cache
is warmed first, untimed, and shared. Rounds rotate the order of the sides so background load hits all alike.
Target (issue 14): tune's per-trial overhead over bare <= 1.5 s.

    python bench/harness_overhead.py [--trials 4] [--rounds 2] [--epochs 2] [--batches 20] [--no-fresh]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import pandas as pd
from _common import run_logged

from trainables.pipeline import prepare_data
from trainables.space import load_space


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", default="tiny")
    ap.add_argument("--trials", type=int, default=4, help="trials per side and round")
    ap.add_argument("--rounds", type=int, default=2, help="rounds, alternating which side goes first")
    ap.add_argument("--epochs", type=int, default=2, help="max_epochs of every trial")
    ap.add_argument("--batches", type=int, default=20, help="limit_train_batches of every trial")
    ap.add_argument("--no-fresh", dest="fresh", action="store_false",
                    help="skip the tune-fresh side (--reuse-workers off)")
    args = ap.parse_args(argv)
    if args.trials < 1 or args.rounds < 1:
        ap.error("--trials and --rounds must be >= 1")

    space = load_space(args.space)
    # every searched knob at its default: the N Tune trials are the very config train.py trains
    knobs = {k: d.default for k, d in space.search.items()}
    knobs.update(max_epochs=args.epochs, limit_train_batches=args.batches, seed=0, num_threads=1)
    sets = [a for k, v in knobs.items() for a in ("--set", f"{k}={v}")]
    py = sys.executable

    with tempfile.TemporaryDirectory(prefix="sts-bench-harness-") as tmp:
        root = Path(tmp)
        env = {**os.environ, "STS_TUNE_CACHE": str(root / "cache"), "HF_HUB_OFFLINE": "1",
               "TRANSFORMERS_OFFLINE": "1", "RAY_DEDUP_LOGS": "0", "PYTHONUNBUFFERED": "1"}
        # untimed: fill the shared token cache so neither side tokenizes
        prepare_data(space.default_config({**knobs, "cache_dir": str(root / "cache")}))

        tune_s: list[float] = []
        fresh_s: list[float] = []
        bare_s: list[float] = []
        fit_s: list[float] = []  # train() seconds of the bare trials (data already prepared): model + fit
        ray_run_s: list[float] = []  # summary.json wall_seconds: ray.init to experiment files, inside search.py
        tune_epochs: list[float] = []
        pearsons: dict[str, set[float]] = {"tune": set(), "bare": set()}  # identical trials: one value per side

        def tune_side(r: int, reuse: bool) -> None:
            name = f"tune-{'reuse' if reuse else 'fresh'}-{r}"
            (tune_s if reuse else fresh_s).append(run_logged(
                [py, "tune/search.py", "--space", args.space, "--search-alg", "random", "--scheduler", "fifo",
                 "--num-samples", str(args.trials), "--max-concurrent", "1", "--max-epochs", str(args.epochs),
                 "--reuse-workers", "on" if reuse else "off",
                 "--storage", str(root / "storage"), "--name", name, "--verbose", "0", *sets],
                env, root / f"{name}.log"))
            summary = json.loads((root / "storage" / name / "summary.json").read_text())
            if summary["trials_by_status"] != {"TERMINATED": args.trials}:
                raise SystemExit(f"{name}: trials by status {summary['trials_by_status']}")
            if reuse:
                ray_run_s.append(float(summary["wall_seconds"]))
                tune_epochs.append(float(summary["total_epochs"]))
            board = pd.read_csv(root / "storage" / name / "leaderboard.csv")
            pearsons["tune"].update(round(float(v), 5) for v in board["val_pearson"])

        def do_tune(r: int) -> None:
            tune_side(r, reuse=True)

        def do_fresh(r: int) -> None:
            tune_side(r, reuse=False)

        def do_bare(r: int) -> None:
            t = 0.0
            for i in range(args.trials):
                out = root / f"bare-{r}-{i}"
                t += run_logged([py, "trainables/train.py", "--space", args.space, *sets, "--output", str(out)],
                                env, root / f"bare-{r}-{i}.log")
                result = json.loads((out / "result.json").read_text())
                fit_s.append(float(result["seconds"]))
                pearsons["bare"].add(round(float(result["val_pearson"]), 5))
            bare_s.append(t)

        sides = [do_bare, do_tune, *([do_fresh] if args.fresh else [])]
        for r in range(args.rounds):
            for side in sides[r % len(sides):] + sides[: r % len(sides)]:
                side(r)
            print(f"round {r + 1}/{args.rounds}: tune {tune_s[-1]:.1f} s, bare {bare_s[-1]:.1f} s"
                  + (f", tune-fresh {fresh_s[-1]:.1f} s" if args.fresh else ""), flush=True)

    n = args.trials
    tune_t, bare_t = sum(tune_s) / len(tune_s), sum(bare_s) / len(bare_s)
    fit_t = sum(fit_s) / len(fit_s) * n
    print(f"\n{n} identical trials of space {args.space} (defaults, max_epochs {args.epochs}, "
          f"limit_train_batches {args.batches}, 1 torch thread), one at a time; mean of {args.rounds} "
          f"rounds, sides alternating")
    print("comparison: subprocess vs subprocess (tune/search.py vs N x trainables/train.py); both pay "
          "process start + imports + checkpoint writes per trial")
    print(f"{'tune: search.py fifo/random, workers reused':<50}: {tune_t:7.1f} s wall  "
          f"(of which ray.init..experiment files {sum(ray_run_s) / len(ray_run_s):.1f} s; "
          f"{tune_epochs[-1]:g} epochs)")
    if fresh_s:
        fresh_t = sum(fresh_s) / len(fresh_s)
        print(f"{'tune-fresh: the same, --reuse-workers off':<50}: {fresh_t:7.1f} s wall")
    print(f"{f'bare: {n} x train.py, sequential':<50}: {bare_t:7.1f} s wall")
    print(f"{'      of which train() itself (model, fit, ckpts)':<50}: {fit_t:7.1f} s")
    print(f"same trials on both sides: val_pearson tune {sorted(pearsons['tune'])}, bare {sorted(pearsons['bare'])}")
    per_trial = (tune_t - bare_t) / n
    print(f"overhead ratio tune / bare = {tune_t / bare_t:.2f}x; per-trial overhead {per_trial:+.1f} s "
          f"(target <= 1.5 s: {'met' if per_trial <= 1.5 else 'NOT met'})")
    if fresh_s:
        print(f"without worker reuse: tune-fresh / bare = {fresh_t / bare_t:.2f}x; per-trial overhead "
              f"{(fresh_t - bare_t) / n:+.1f} s; reuse saves {(fresh_t - tune_t) / n:.1f} s per trial")
    print(f"for reference, tune / train() alone = {tune_t / fit_t:.2f}x "
          f"({(tune_t - fit_t) / n:.1f} s per trial over an in-process loop that imports once)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
