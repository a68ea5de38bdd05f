"""Validation pass: inference batches by a token budget (`eval_batch_tokens`) vs a fixed row count.

One model (the space's default point, pretrained or random-init as the space says) predicts the whole dev
set once per side and round, sides rotating so background load hits all alike; the dev pairs are length-
sorted on every side (as in a trial's validation). Each side's predictions must equal the row-count side's
(within float tolerance): only the batch shapes differ. Target (issue 14): validation pass <= 0.7x of the
row-count default's at equal results.

    python bench/eval_batching.py [--space tiny] [--rows 256] [--budgets 1024 2048 4096] [--rounds 5]
    python bench/eval_batching.py --space e5_small --rows 16 --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np
import torch

from trainables.backbones import resolve_backbone
from trainables.batching import make_loader, pad_fraction
from trainables.model import STSRegressor
from trainables.pipeline import prepare_data
from trainables.space import load_space


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", default="tiny")
    ap.add_argument("--rows", type=int, default=None, help="the row-count side (default: the space's eval_batch_size)")
    ap.add_argument("--budgets", type=int, nargs="+", default=[1024, 2048, 4096], help="token budgets to time")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dev-rows", type=int, default=0, help="first N dev pairs only (0 = all; for a smoke run)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    space = load_space(args.space)
    with tempfile.TemporaryDirectory(prefix="sts-bench-eval-") as tmp:
        cfg = space.default_config({"cache_dir": tmp})
        kind = "config" if cfg.random_init else "model"
        cfg = cfg.replace(backbone=resolve_backbone(cfg.backbone, kind=kind))
        data = prepare_data(cfg)
    dev = data.dev_enc if not args.dev_rows else data.dev_enc.subset(np.arange(min(args.dev_rows, len(data.dev_enc))))
    torch.manual_seed(0)
    model = STSRegressor(cfg)
    model.eval()
    rows = args.rows or cfg.eval_batch_size
    sides = {f"rows {rows}": 0, **{f"tokens {b} (rows <= {rows})": b for b in args.budgets}}
    loaders = {name: make_loader(dev, None, rows, train=False, seed=0, max_tokens=b) for name, b in sides.items()}
    lengths = dev.part_lengths
    times: dict[str, list[float]] = {name: [] for name in sides}
    preds: dict[str, np.ndarray] = {}
    for name, loader in loaders.items():  # untimed warm-up
        preds[name] = model.predict_loader(loader)
    names = list(sides)
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            t0 = time.perf_counter()
            model.predict_loader(loaders[name])
            times[name].append(time.perf_counter() - t0)

    base = names[0]
    base_t = statistics.median(times[base])
    print(f"space {args.space} ({cfg.backbone}, head {cfg.head}), {len(dev)} dev pairs, {args.threads} thread(s), "
          f"median of {args.rounds} rounds, sides rotating")
    for name in names:
        batches = loaders[name].batch_sampler.batches(0)
        t = statistics.median(times[name])
        diff = float(np.max(np.abs(preds[name] - preds[base])))
        print(f"{name:<28}: {t:7.3f} s  {len(batches):4d} batches  pad_fraction "
              f"{pad_fraction(lengths, batches):.3f}  x{t / base_t:.2f} of rows  max |pred diff| {diff:.2e}")
    best = min(names[1:], key=lambda n: statistics.median(times[n]))
    ratio = statistics.median(times[best]) / base_t
    verdict = "met" if ratio <= 0.7 else "NOT met"
    print(f"fastest budget: {best}, {ratio:.2f}x the row-count pass (target <= 0.70: {verdict})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
