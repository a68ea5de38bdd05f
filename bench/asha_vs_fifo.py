"""Early stopping pays: the same sampled trials under ASHA and under FIFO (every trial runs to max_epochs).

Two `tune/search.py` runs that differ only in `--scheduler`: random search with a fixed `--seed` samples
the same configs (and every trial gets the same seed), so FIFO shows what each trial reaches when run to
the end and ASHA shows what stopping the weak ones at the rungs costs and saves. Figures are read from
each experiment's summary.json and leaderboard.csv. Epochs and Pearson do not depend on machine speed;
with 2 trials at a time ASHA's decisions depend on the order results arrive (asynchronous rungs), the
wall times on background load. The token cache is warmed first, untimed, and shared.

ASHA's rungs sit inside the first epoch by default (`--val-checks 4 --grace-period 0.25`: every trial
validates 4 times an epoch and can be stopped after a quarter). Target (issue 14): ASHA consumes <= 35% of
FIFO's epochs on >= 16 configs with a best val_pearson within 0.005 of FIFO's.

    python bench/asha_vs_fifo.py [--num-samples 16] [--max-epochs 2] [--batches 60] [--val-checks 4]
                                 [--grace-period 0.25] [--seed 0]
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


def run_search(args: argparse.Namespace, scheduler: str, storage: Path, env: dict[str, str]) -> dict:
    cmd = [sys.executable, "tune/search.py", "--space", args.space, "--search-alg", "random",
           "--scheduler", scheduler, "--seed", str(args.seed), "--num-samples", str(args.num_samples),
           "--max-epochs", str(args.max_epochs), "--set", f"limit_train_batches={args.batches}",
           "--set", f"val_checks_per_epoch={args.val_checks}", "--grace-period", str(args.grace_period),
           "--max-concurrent", str(args.max_concurrent),
           "--storage", str(storage), "--name", scheduler, "--verbose", "0"]
    log = storage / f"{scheduler}.log"
    storage.mkdir(parents=True, exist_ok=True)
    seconds = run_logged(cmd, env, log)
    exp = storage / scheduler
    summary = json.loads((exp / "summary.json").read_text())
    board = pd.read_csv(exp / "leaderboard.csv")
    if len(board) != args.num_samples or (board["status"] != "TERMINATED").any():
        raise SystemExit(f"{scheduler}: trials by status {summary['trials_by_status']}")
    return {"summary": summary, "board": board, "seconds": seconds}


def config_keys(board: pd.DataFrame, searched: list[str]) -> pd.Series:
    """One hashable identity per trial: its searched knobs (trial ids differ between experiments)."""
    cols = [f"config/{k}" for k in searched]
    return board[cols].astype(str).agg("|".join, axis=1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", default="tiny")
    ap.add_argument("--num-samples", type=int, default=16)
    ap.add_argument("--max-epochs", type=int, default=2)
    ap.add_argument("--batches", type=int, default=60, help="limit_train_batches of every trial")
    ap.add_argument("--val-checks", type=int, default=4, help="val_checks_per_epoch of every trial")
    ap.add_argument("--grace-period", type=float, default=0.25, help="ASHA's first rung, in epochs")
    ap.add_argument("--max-concurrent", type=int, default=0, help="trials at once (0 = as the CPUs allow)")
    ap.add_argument("--seed", type=int, default=0, help="searcher and trial seed, the same for both runs")
    args = ap.parse_args(argv)

    space = load_space(args.space)
    searched = list(space.search)
    with tempfile.TemporaryDirectory(prefix="sts-bench-asha-") as tmp:
        root = Path(tmp)
        env = {**os.environ, "STS_TUNE_CACHE": str(root / "cache"), "HF_HUB_OFFLINE": "1",
               "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
        # untimed: both searches would otherwise differ by who tokenizes first
        prepare_data(space.default_config({"cache_dir": str(root / "cache")}))
        runs = {s: run_search(args, s, root / "storage", env) for s in ("asha", "fifo")}

    asha, fifo = runs["asha"], runs["fifo"]
    ka, kf = config_keys(asha["board"], searched), config_keys(fifo["board"], searched)
    same = sorted(ka) == sorted(kf)
    ea, ef = float(asha["summary"]["total_epochs"]), float(fifo["summary"]["total_epochs"])
    pa, pf = float(asha["summary"]["best_val_pearson"]), float(fifo["summary"]["best_val_pearson"])
    fifo_best = kf.iloc[0]  # leaderboards are sorted by val_pearson
    asha_epochs_of_fifo_best = float(asha["board"].loc[ka == fifo_best, "epochs_run"].iloc[0]) if same else float("nan")

    print(f"space {args.space}, random search seed {args.seed}, {args.num_samples} trials, max_epochs "
          f"{args.max_epochs}, limit_train_batches {args.batches}, val_checks_per_epoch {args.val_checks}, "
          f"grace period {args.grace_period:g} epochs, max concurrent {args.max_concurrent or 'as the CPUs allow'}")
    print(f"same sampled configs in both runs: {'yes' if same else 'NO'}")
    print("per trial (FIFO order by val_pearson): val_pearson fifo / asha, epochs fifo / asha")
    for key, row in zip(kf, fifo["board"].itertuples(index=False), strict=True):
        match = asha["board"][ka == key]
        a_p = float(match["val_pearson"].iloc[0]) if len(match) else float("nan")
        a_e = float(match["epochs_run"].iloc[0]) if len(match) else float("nan")
        print(f"  {row.val_pearson:7.4f} / {a_p:7.4f}   {row.epochs_run:g} / {a_e:g}")
    print(f"epochs consumed : asha {ea:g}, fifo {ef:g}  -> asha/fifo {ea / ef:.2f}, {1 - ea / ef:.0%} epochs saved")
    print(f"best val_pearson: asha {pa:.4f}, fifo {pf:.4f}  -> asha/fifo {pa / pf:.3f}")
    print(f"FIFO's best config ran {asha_epochs_of_fifo_best:g} of {args.max_epochs} epochs under ASHA")
    early = int((asha["board"]["epochs_run"] < 1).sum())
    print(f"ASHA stopped {early} of {args.num_samples} trials inside the first epoch")
    ok = ea / ef <= 0.35 and abs(pa - pf) <= 0.005
    print(f"target (<= 35% of FIFO's epochs, best val_pearson within 0.005): {'met' if ok else 'NOT met'} "
          f"({ea / ef:.0%}, {pa - pf:+.4f})")
    print(f"wall (noisy under background load): asha {asha['seconds']:.0f} s, fifo {fifo['seconds']:.0f} s "
          f"-> asha/fifo {asha['seconds'] / fifo['seconds']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
