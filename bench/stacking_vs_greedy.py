"""Stacking against greedy (and mean, best single) on real experiments' saved predictions.

    python bench/stacking_vs_greedy.py --experiment runs/x1 [--experiment runs/x2 …] [--top-k 20] [--repeats 50]

Loads the candidates as `ensemble/select.py` does (several experiments are pooled), then for each method:
the honest held-out estimate (select on a random half of dev, score on the other half, `--repeats` times,
the same halves for every method), its optimism, and, when the test split is labelled, the test Pearson of
the weights chosen on the full dev set (reported, never used to choose). Prints a Markdown table.
"""

from __future__ import annotations

import argparse

from ensemble.experiment import without_constant_members
from ensemble.honest import holdout_estimate, method_rng
from ensemble.methods import make_method
from ensemble.pool import load_pool
from trainables.metrics import pearson

METHODS = ("stacking", "greedy", "random", "mean", "single")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiment", action="append", required=True)
    ap.add_argument("--top-k", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    pooled = load_pool(args.experiment, args.top_k)
    lib, _ = without_constant_members(pooled.library)
    print(f"{lib.size} candidates from {len(pooled.experiments)} experiment(s), {len(lib.dev_ids)} dev rows, "
          f"{'no' if lib.test_labels is None else len(lib.test_labels)} labelled test rows\n")
    methods = {n: make_method(n) for n in METHODS}
    held = holdout_estimate(lib.dev_preds, lib.labels, methods, repeats=args.repeats, seed=args.seed)
    print("| method | held-out mean | sd | optimism | test (full-dev weights) | members |")
    print("|---|---|---|---|---|---|")
    for name, method in methods.items():
        w = method(lib.dev_preds, lib.labels, method_rng(args.seed, name, 0))
        test = (pearson(w @ lib.test_preds, lib.test_labels)
                if lib.test_preds is not None and lib.test_labels is not None else float("nan"))
        h = held[name]
        print(f"| {name} | {h.mean:.4f} | {h.sd:.4f} | {h.optimism:+.4f} | {test:.4f} | {int((w > 0).sum())} |")


if __name__ == "__main__":
    main()
