"""Symmetric test-time averaging (`tta: swap`) side by side with one order, on the same trained weights.

    python bench/tta_swap.py [--space tiny] [--seeds 3] [--epochs 2] [--batches 100] [--augmentation none|swap]
    python bench/tta_swap.py --space e5_small --seeds 3 --epochs 2 --batches 0      # on a GPU machine

For each seed, trains the space's default config once (Ray-free, `trainables.training.train`, tta none),
then predicts dev and the labelled test split with the saved weights in the given order (s1, s2), the
swapped order (s2, s1) and their mean (what `tta: swap` saves and submits). Same weights for all three: the
difference is the averaging alone. Prints one Markdown row per seed and the mean, plus inference seconds
(the swap column pays for both orders). The test split is scored, never used to choose anything.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from trainables.inference import load_checkpoint
from trainables.metrics import pearson
from trainables.pipeline import prepare_data
from trainables.space import load_space
from trainables.training import train
from trainables.tta import swapped


class KeepBest:
    def __init__(self, out: Path) -> None:
        self.out = out

    def on_validation(self, metrics, improved, write_checkpoint) -> None:
        if improved:
            write_checkpoint(self.out)


def timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="tiny")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batches", type=int, default=100, help="train batches per epoch (0 = all)")
    ap.add_argument("--test-rows", type=int, default=1000, help="rows of the held-out split scored as test")
    ap.add_argument("--augmentation", default="none", help="train-time augmentation (swap: both orders seen)")
    ap.add_argument("--out", type=Path, default=Path("/tmp/tta-bench"))
    args = ap.parse_args()
    space = load_space(args.space)
    rows = []
    print("| seed | dev one order | dev swapped order | dev swap-averaged | test one order | test swapped | "
          "test swap-averaged | s one order | s swap-averaged |")
    print("|---|---|---|---|---|---|---|---|---|")
    for seed in range(args.seeds):
        cfg = space.default_config({"seed": seed, "max_epochs": args.epochs, "limit_train_batches": args.batches,
                                    "tta": "none", "augmentation": args.augmentation})
        data = prepare_data(cfg)
        ckpt = args.out / f"seed{seed}"
        train(cfg, KeepBest(ckpt), data=data, quiet=True)
        predictor = load_checkpoint(ckpt)
        dev = data.dev
        test = data.test if data.test is not None and "label" in data.test else None  # bundled: labelled KLUE dev
        scores = []
        for table in (dev, test):
            if table is None:
                scores += [float("nan")] * 3
                continue
            table = table.head(args.test_rows) if table is test else table
            y = table["label"].to_numpy(np.float64)
            forward, s_one = timed(predictor.predict, table)
            backward = predictor.predict(swapped(table))
            scores += [pearson(forward, y), pearson(backward, y), pearson((forward + backward) / 2, y)]
            if table is dev:
                predictor.config = predictor.config.replace(tta="swap")
                _, s_swap = timed(predictor.predict, table)
                predictor.config = predictor.config.replace(tta="none")
                secs = (s_one, s_swap)
        rows.append(scores + list(secs))
        print(f"| {seed} | " + " | ".join(f"{v:.4f}" for v in scores) + f" | {secs[0]:.2f} | {secs[1]:.2f} |")
    mean = np.nanmean(np.array(rows), axis=0)
    print("| mean | " + " | ".join(f"{v:.4f}" for v in mean[:6]) + f" | {mean[6]:.2f} | {mean[7]:.2f} |")
    gain = mean[2] - max(mean[0], mean[1])
    print(f"\nswap-averaged minus the better single order on dev: {gain:+.4f}; inference cost ratio "
          f"{mean[7] / mean[6]:.2f}x")


if __name__ == "__main__":
    main()
