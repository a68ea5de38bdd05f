"""Does the model-based searcher pay? Optuna (TPE) + ASHA vs random search + ASHA at an equal budget, over seeds.

For each seed, two `tune/search.py` runs that differ only in `--search-alg` (optuna vs random): the same
number of trials, scheduler (ASHA with sub-epoch rungs by default), max_epochs, limit_train_batches and
seed. Their order alternates from seed to seed so background load hits both alike. Figures come from each
experiment's summary.json: best dev val_pearson (what the search optimises), the test Pearson of that best
trial (never used to select), epochs consumed and wall seconds. The token cache is warmed first, untimed.

    python bench/searcher_seeds.py [--seeds 0 1 2] [--num-samples 16] [--max-epochs 2] [--batches 60]
                                   [--val-checks 4] [--grace-period 0.25] [--space tiny]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from _common import run_logged

from trainables.pipeline import prepare_data
from trainables.space import load_space

ALGS = ("optuna", "random")


def run_search(args: argparse.Namespace, alg: str, seed: int, storage: Path, env: dict[str, str]) -> dict:
    name = f"{alg}-s{seed}"
    cmd = [sys.executable, "tune/search.py", "--space", args.space, "--search-alg", alg, "--scheduler", "asha",
           "--seed", str(seed), "--num-samples", str(args.num_samples), "--max-epochs", str(args.max_epochs),
           "--grace-period", str(args.grace_period), "--set", f"limit_train_batches={args.batches}",
           "--set", f"val_checks_per_epoch={args.val_checks}", "--storage", str(storage), "--name", name,
           "--verbose", "0"]
    storage.mkdir(parents=True, exist_ok=True)
    seconds = run_logged(cmd, env, storage / f"{name}.log")
    s = json.loads((storage / name / "summary.json").read_text())
    if s["trials_by_status"] != {"TERMINATED": args.num_samples}:
        raise SystemExit(f"{name}: trials by status {s['trials_by_status']}")
    test = s.get("best_test_pearson")
    return {"dev": float(s["best_val_pearson"]), "test": float("nan") if test is None else float(test),
            "epochs": float(s["total_epochs"]), "seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", default="tiny")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--num-samples", type=int, default=16)
    ap.add_argument("--max-epochs", type=int, default=2)
    ap.add_argument("--batches", type=int, default=60, help="limit_train_batches of every trial")
    ap.add_argument("--val-checks", type=int, default=4, help="val_checks_per_epoch of every trial")
    ap.add_argument("--grace-period", type=float, default=0.25, help="ASHA's first rung, in epochs")
    args = ap.parse_args(argv)

    space = load_space(args.space)
    out: dict[str, list[dict]] = {a: [] for a in ALGS}
    with tempfile.TemporaryDirectory(prefix="sts-bench-searcher-") as tmp:
        root = Path(tmp)
        env = {**os.environ, "STS_TUNE_CACHE": str(root / "cache"), "HF_HUB_OFFLINE": "1",
               "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
        prepare_data(space.default_config({"cache_dir": str(root / "cache")}))
        for i, seed in enumerate(args.seeds):
            for alg in (ALGS if i % 2 == 0 else ALGS[::-1]):
                out[alg].append(run_search(args, alg, seed, root / "storage", env))
            row = "  ".join(f"{a} dev {out[a][-1]['dev']:.4f} test {out[a][-1]['test']:.4f}" for a in ALGS)
            print(f"seed {seed}: {row}", flush=True)

    print(f"\nspace {args.space}, ASHA (grace {args.grace_period:g} epochs, val_checks_per_epoch {args.val_checks}), "
          f"{args.num_samples} trials x max_epochs {args.max_epochs}, limit_train_batches {args.batches}; "
          f"seeds {args.seeds}")
    print(f"{'seed':>4}  " + "  ".join(f"{a + ' dev':>11} {a + ' test':>12} {'epochs':>6} {'s':>5}" for a in ALGS))
    for j, seed in enumerate(args.seeds):
        print(f"{seed:>4}  " + "  ".join(
            f"{out[a][j]['dev']:11.4f} {out[a][j]['test']:12.4f} {out[a][j]['epochs']:6.2f} {out[a][j]['seconds']:5.0f}"
            for a in ALGS))
    for key in ("dev", "test", "epochs"):
        means = {a: statistics.fmean(r[key] for r in out[a]) for a in ALGS}
        print(f"mean {key:<6}: " + ", ".join(f"{a} {means[a]:.4f}" for a in ALGS)
              + f"  (optuna - random {means['optuna'] - means['random']:+.4f})")
    wins = sum(o["dev"] > r["dev"] for o, r in zip(out["optuna"], out["random"], strict=True))
    print(f"optuna's best dev above random's in {wins} of {len(args.seeds)} seeds")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
