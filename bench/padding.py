"""Training throughput: dynamic padding + length-bucketed batches vs padding every pair to 128 tokens.

Same model (random-init BERT, 4 layers, hidden 256, the bundled Korean tokenizer), same KLUE-STS train
pairs, same optimizer; the two modes are timed alternately in one run so machine load hits both alike.

    python bench/padding.py [--batches 40] [--rounds 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from trainables.batching import make_loader, pad_fraction
from trainables.config import TrialConfig
from trainables.model import STSRegressor
from trainables.optim import make_optimizer
from trainables.paths import PROJECT_ROOT
from trainables.training import prepare_data


def bench_backbone(tmp: Path) -> str:
    """The bundled tokenizer with a 4-layer, hidden-256 config: big enough that padding cost is realistic."""
    src = PROJECT_ROOT / "assets" / "tiny-bert"
    for f in src.iterdir():
        if f.is_file():
            (tmp / f.name).write_bytes(f.read_bytes())
    cfg = json.loads((src / "config.json").read_text())
    cfg.update(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024)
    (tmp / "config.json").write_text(json.dumps(cfg))
    return str(tmp)


def run_mode(model, opt, loader, batches: int, warmup: int = 2) -> tuple[float, list[list[int]]]:
    used: list[list[int]] = []
    it = iter(loader)
    samples = 0
    model.train()
    start = 0.0
    for i in range(batches + warmup):
        batch = next(it)
        if i == warmup:
            start = time.perf_counter()
        loss = model.training_step(batch, i)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= warmup:
            samples += len(batch["labels"])
            used.append(batch["index"].tolist())
    return samples / (time.perf_counter() - start), used


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, default=40, help="timed batches per mode and round")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds (median reported)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrialConfig(backbone=bench_backbone(Path(tmp)), random_init=True, batch_size=args.batch_size,
                          lr=1e-4, max_length=128, seed=0)
        data = prepare_data(cfg)
        labels = data.train["label"].to_numpy(np.float32)
        model = STSRegressor(cfg)
        model.log = lambda *a, **k: None  # outside a Trainer: Lightning logging is not available
        opt = make_optimizer(model, cfg)
        lens = data.train_enc.lengths
        rates: dict[str, list[float]] = {"dynamic": [], "pad128": []}
        pads: dict[str, list[float]] = {"dynamic": [], "pad128": []}
        for r in range(args.rounds):
            for mode in ("dynamic", "pad128"):
                loader = make_loader(
                    data.train_enc, labels, args.batch_size, train=True, seed=r, bucket=mode == "dynamic",
                    pad_to=128 if mode == "pad128" else None, start_epoch=r,
                )
                rate, used = run_mode(model, opt, loader, args.batches)
                rates[mode].append(rate)
                pads[mode].append(pad_fraction(lens, used, 128 if mode == "pad128" else None))
        full_epoch = make_loader(data.train_enc, labels, args.batch_size, train=True, seed=0).batch_sampler.batches(0)
    dyn, p128 = float(np.median(rates["dynamic"])), float(np.median(rates["pad128"]))
    print(f"model: random-init BERT 4x256, batch {args.batch_size}, {args.threads} threads, "
          f"{args.batches} batches x {args.rounds} alternating rounds per mode")
    print(f"mean pair length {lens.mean():.1f} tokens (max {lens.max()}) on {len(lens)} KLUE-STS train pairs")
    print(f"dynamic+bucketed : {dyn:8.1f} samples/s  pad_fraction {np.mean(pads['dynamic']):.4f} "
          f"(whole epoch: {pad_fraction(lens, full_epoch):.4f})")
    print(f"pad-to-128       : {p128:8.1f} samples/s  pad_fraction {np.mean(pads['pad128']):.4f}")
    print(f"ratio dynamic / pad-to-128 = {dyn / p128:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
