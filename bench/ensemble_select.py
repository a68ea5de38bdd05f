"""Benchmark the ensemble selection loops on synthetic cached predictions.

    python bench/ensemble_select.py [--members 20] [--dev-rows 519] [--trials 1000 100000]

Targets (issue: ensemble/select.py), 20 members: random --trials 1000 < 0.2 s, --trials 100000 < 10 s.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ensemble.honest import holdout_estimate
from ensemble.methods import greedy_selection, make_method, random_search


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=20)
    parser.add_argument("--dev-rows", type=int, default=519, help="519 = KLUE-STS dev")
    parser.add_argument("--trials", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--holdout-repeats", type=int, default=50)
    args = parser.parse_args(argv)
    if args.members < 2 or args.dev_rows < 6 or min(args.trials) < 1:
        parser.error("need --members >= 2, --dev-rows >= 6 and --trials >= 1")

    rng = np.random.default_rng(0)
    labels = rng.uniform(0.0, 5.0, args.dev_rows)
    preds = labels + rng.normal(0.0, 1.0, (args.members, args.dev_rows))
    random_search(preds, labels, np.random.default_rng(0), trials=100)  # warm-up (BLAS, allocator)

    print(f"{args.members} members, {args.dev_rows} dev rows")
    for trials in args.trials:
        result = random_search(preds, labels, np.random.default_rng(0), trials=trials)
        print(
            f"random  --trials {trials:>7}: loop {result.seconds:8.4f} s, "
            f"{trials / result.seconds:>12,.0f} subsets/s, best dev Pearson {result.score:.4f}"
        )
    greedy = greedy_selection(preds, labels, size=25)
    print(f"greedy  --ensemble-size 25: loop {greedy.seconds:8.4f} s (3 initialisations)")
    for trials in (args.trials[0],):
        methods = {
            n: make_method(n, trials=trials, ensemble_size=25)
            for n in ("random", "greedy", "weighted", "mean", "single")
        }
        start = time.perf_counter()
        holdout_estimate(preds, labels, methods, repeats=args.holdout_repeats, seed=0)
        print(
            f"honest estimate, all methods, {args.holdout_repeats} halves, random --trials {trials}: "
            f"{time.perf_counter() - start:.3f} s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
