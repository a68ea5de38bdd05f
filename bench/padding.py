"""Training throughput: dynamic padding + length-bucketed batches vs padding every pair to 128 tokens.

Same model (random-init BERT, 4 layers, hidden 256, the bundled Korean tokenizer), same KLUE-STS train
pairs, same optimizer; the two modes are timed batch by batch, alternately, in one run.

    python bench/padding.py [--batches 40] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
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
from trainables.pipeline import prepare_data


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


def train_step(model, opt, batch, i: int) -> float:
    t = time.perf_counter()
    loss = model.training_step(batch, i)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, default=40, help="timed batches per mode and round")
    ap.add_argument("--warmup", type=int, default=2, help="untimed batches per mode first")
    ap.add_argument("--batch-size", type=int, default=32)
    # one thread by default: with two, any background load stalls the OpenMP barriers and swamps the ratio
    ap.add_argument("--threads", type=int, default=1)
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
        # the two modes alternate batch by batch, so background load hits both alike
        seconds = {"dynamic": 0.0, "pad128": 0.0}
        samples = {"dynamic": 0, "pad128": 0}
        used: dict[str, list[list[int]]] = {"dynamic": [], "pad128": []}
        loaders = {
            "dynamic": iter(make_loader(data.train_enc, labels, args.batch_size, train=True, seed=0)),
            "pad128": iter(make_loader(data.train_enc, labels, args.batch_size, train=True, seed=0, bucket=False,
                                       pad_to=128)),
        }
        model.train()
        for i in range(args.batches + args.warmup):
            for mode, it in loaders.items():
                batch = next(it)
                dt = train_step(model, opt, batch, i)
                if i >= args.warmup:
                    seconds[mode] += dt
                    samples[mode] += len(batch["labels"])
                    used[mode].append(batch["index"].tolist())
        full_epoch = make_loader(data.train_enc, labels, args.batch_size, train=True, seed=0).batch_sampler.batches(0)
    dyn, p128 = samples["dynamic"] / seconds["dynamic"], samples["pad128"] / seconds["pad128"]
    print(f"model: random-init BERT 4x256, batch {args.batch_size}, {args.threads} threads, "
          f"{args.batches} timed batches per mode, alternating batch by batch")
    print(f"mean pair length {lens.mean():.1f} tokens (max {lens.max()}) on {len(lens)} KLUE-STS train pairs")
    print(f"dynamic+bucketed : {dyn:8.1f} samples/s  pad_fraction {pad_fraction(lens, used['dynamic']):.4f} "
          f"(whole epoch: {pad_fraction(lens, full_epoch):.4f})")
    print(f"pad-to-128       : {p128:8.1f} samples/s  pad_fraction {pad_fraction(lens, used['pad128'], 128):.4f}")
    print(f"ratio dynamic / pad-to-128 = {dyn / p128:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
