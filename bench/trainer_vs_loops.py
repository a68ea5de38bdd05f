"""Our trainer vs a plain hand-written PyTorch loop vs HF `Trainer`, training steps interleaved in one process.

The sides train the same backbone (the space's, pretrained), the same head (pooling -> dropout -> dense -> tanh ->
dropout -> linear), the same loss (MSE), optimizer (AdamW, no decay on biases and LayerNorm), schedule (linear
warm-up then linear decay: over the side's steps for hand and hf, over the epoch for ours, as a trial schedules
it), gradient clipping, batch size, torch threads and number of steps, with dropout on:

  ours   `trainables.training.train()`: STSRegressor, our length-bucketed loader and the Lightning fit, exactly as a
         trial runs (validation off), with trainables/cpu_kernels.py's dropout and attention (the default);
         `ours-torch` is the same on torch's own kernels (cpu_kernels=False), `ours-bf16` with CPU bf16 autocast
  hand   a plain loop a user would write: the token ids from the same cache, sorted by length inside shuffled pools
         of 100 batches, `tokenizer.pad` per batch, `model.train()`, forward, backward, clip, step
  hf     `transformers.Trainer` with its length-grouped sampler (`train_sampling_strategy="group_by_length"`) and
         the same model module (its default optimizer: fused AdamW, as ours; hand uses torch's default AdamW)

Each side runs in its own thread, but only the side holding the baton computes: a side trains `--chunk` steps,
stops its clock and hands the baton on, so background load hits every side alike. The first chunk of each side
(model build, first allocations) is not timed. samples/s counts training steps only. After the last step every
side predicts the dev set with the same inference loop, so the figures come with a check that all sides trained.

    python bench/trainer_vs_loops.py [--space e5_small] [--head mean] [--steps 60] [--chunk 5] [--threads 2]
    python bench/trainer_vs_loops.py --sides ours ours-bf16 --steps 12 --chunk 2   # CPU bf16 vs fp32
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from trainables.backbones import resolve_backbone
from trainables.batching import POOL_BATCHES, make_loader
from trainables.config import TrialConfig
from trainables.metrics import pearson
from trainables.optim import param_groups
from trainables.pipeline import PreparedData, prepare_data
from trainables.space import load_space


@dataclass
class Clock:
    seconds: float = 0.0
    samples: int = 0
    tokens: int = 0  # padded token slots the steps computed on
    real_tokens: int = 0
    steps: int = 0
    timed_steps: int = 0


class Baton:
    """Round-robin turns between side threads: one side computes at a time, `chunk` training steps per turn."""

    def __init__(self, names: list[str], chunk: int) -> None:
        self.order = list(names)
        self.chunk = chunk
        self.turn = 0
        self.cond = threading.Condition()
        self.clocks = {n: Clock() for n in names}
        self._t0: dict[str, float] = {}
        self._in_chunk: dict[str, int] = dict.fromkeys(names, 0)
        self._chunks: dict[str, int] = dict.fromkeys(names, 0)

    def _wait(self, name: str) -> None:
        with self.cond:
            self.cond.wait_for(lambda: self.order[self.turn % len(self.order)] == name)
        self._t0[name] = time.perf_counter()

    def _pass(self, name: str, *, leave: bool = False) -> None:
        with self.cond:
            if leave:
                i = self.order.index(name)
                self.order.pop(i)
                if self.order:
                    self.turn = i % len(self.order)
            else:
                self.turn = (self.order.index(name) + 1) % len(self.order)
            self.cond.notify_all()

    def enter(self, name: str) -> None:
        self._wait(name)

    def step(self, name: str, samples: int, tokens: int, real_tokens: int) -> None:
        """After each optimizer step: count it; at the end of a chunk, stop the clock and hand over."""
        c = self.clocks[name]
        c.steps += 1
        timed = self._chunks[name] > 0  # the first chunk is warm-up
        if timed:
            c.samples += samples
            c.tokens += tokens
            c.real_tokens += real_tokens
            c.timed_steps += 1
        self._in_chunk[name] += 1
        if self._in_chunk[name] == self.chunk:
            if timed:
                c.seconds += time.perf_counter() - self._t0[name]
            self._in_chunk[name] = 0
            self._chunks[name] += 1
            self._pass(name)
            self._wait(name)

    def leave(self, name: str) -> None:
        self._pass(name, leave=True)


# --- the shared model pieces of the hand and HF sides ------------------------------------------------------

class Regressor(nn.Module):
    """AutoModel backbone + the same head as trainables/heads.py's `mean` / `cls` RegressionHead."""

    def __init__(self, backbone_dir: str, hidden_dropout: float, head: str, head_dropout: float) -> None:
        super().__init__()
        from transformers import AutoConfig, AutoModel

        hf = AutoConfig.from_pretrained(backbone_dir)
        hf.hidden_dropout_prob = hidden_dropout
        self.backbone = AutoModel.from_pretrained(backbone_dir, config=hf, add_pooling_layer=False)
        h = hf.hidden_size
        self.head_kind = head
        self.net = nn.Sequential(nn.Dropout(head_dropout), nn.Linear(h, h), nn.Tanh(), nn.Dropout(head_dropout),
                                 nn.Linear(h, 1))

    def forward(self, input_ids, attention_mask, token_type_ids=None, labels=None):
        kw = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        states = self.backbone(input_ids=input_ids, attention_mask=attention_mask, **kw).last_hidden_state
        if self.head_kind == "mean":
            m = attention_mask.unsqueeze(-1).to(states.dtype)
            pooled = (states * m).sum(1) / m.sum(1).clamp_min(1.0)
        else:
            pooled = states[:, 0]
        pred = self.net(pooled).squeeze(-1)
        if labels is None:
            return {"logits": pred}
        return {"loss": nn.functional.mse_loss(pred, labels), "logits": pred}


def features(data: PreparedData, split: str) -> list[dict]:
    """Per-row token ids (and types) as plain lists, as a hand loop or a HF Dataset holds them."""
    enc = getattr(data, f"{split}_enc")
    labels = getattr(data, split)["label"].to_numpy(np.float32)
    rows = []
    for i in range(len(enc)):
        row = {"input_ids": enc.ids(i).tolist(), "labels": float(labels[i])}
        if enc.flat_types is not None:
            row["token_type_ids"] = enc.types(i).tolist()
        rows.append(row)
    return rows


@torch.no_grad()
def predict(model: nn.Module, data: PreparedData, cfg: TrialConfig) -> np.ndarray:
    """Dev predictions through our inference loader (the same batches for every side)."""
    model.eval()
    loader = make_loader(data.dev_enc, None, cfg.eval_batch_size, train=False, seed=0, max_tokens=cfg.eval_batch_tokens)
    out = np.empty(len(data.dev), dtype=np.float64)
    for b in loader:
        kw = {k: b[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in b}
        out[b["index"].numpy()] = model(**kw)["logits"].float().numpy()
    return out


def linear_warmup(opt: torch.optim.Optimizer, warmup: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    def f(s: int) -> float:
        return (s + 1) / warmup if s < warmup else max(0.0, (total - s) / max(1, total - warmup))
    return torch.optim.lr_scheduler.LambdaLR(opt, f)


# --- the sides ---------------------------------------------------------------------------------------------

def ours(baton: Baton, name: str, cfg: TrialConfig, data: PreparedData, steps: int) -> np.ndarray:
    import pytorch_lightning as pl

    from trainables.training import train

    holder: dict = {}

    class Tick(pl.Callback):
        def on_fit_start(self, trainer, module):
            holder["module"] = module

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            mask = batch["attention_mask"]
            baton.step(name, len(batch["labels"]), mask.numel(), int(mask.sum()))

    # validation off: the fit is training steps only, as on the other sides
    train(cfg, data=data, trainer_overrides={"callbacks": [Tick()], "limit_val_batches": 0, "max_steps": steps},
          quiet=True)
    module = holder["module"]
    return module.predict_loader(make_loader(data.dev_enc, None, cfg.eval_batch_size, train=False, seed=0,
                                             max_tokens=cfg.eval_batch_tokens))


def hand(baton: Baton, name: str, cfg: TrialConfig, data: PreparedData, steps: int, backbone_dir: str) -> np.ndarray:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(backbone_dir)
    rows = features(data, "train")
    torch.manual_seed(cfg.seed)
    model = Regressor(backbone_dir, cfg.hidden_dropout, cfg.head, cfg.head_dropout)
    opt = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr)
    sched = linear_warmup(opt, max(1, int(cfg.warmup_ratio * steps)), steps)
    lengths = np.array([len(r["input_ids"]) for r in rows])
    rng = np.random.default_rng(cfg.seed)

    def batches():
        while True:  # epochs: shuffle, sort by length inside pools, shuffle the batches
            order = rng.permutation(len(rows))
            out = []
            pool = cfg.batch_size * POOL_BATCHES
            for s in range(0, len(order), pool):
                chunk = order[s:s + pool]
                chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
                out += [chunk[i:i + cfg.batch_size] for i in range(0, len(chunk), cfg.batch_size)]
            for i in rng.permutation(len(out)):
                yield out[i]

    model.train()
    it = batches()
    for _ in range(steps):
        idx = next(it)
        feats = [{k: v for k, v in rows[i].items() if k != "labels"} for i in idx]
        batch = tok.pad(feats, return_tensors="pt")
        labels = torch.tensor([rows[i]["labels"] for i in idx])
        loss = model(**batch, labels=labels)["loss"]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip or math.inf)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        mask = batch["attention_mask"]
        baton.step(name, len(idx), mask.numel(), int(mask.sum()))
    return predict(model, data, cfg)


def hf_trainer(baton: Baton, name: str, cfg: TrialConfig, data: PreparedData, steps: int, backbone_dir: str,
               out_dir: str) -> np.ndarray:
    from transformers import AutoTokenizer, DataCollatorWithPadding, Trainer, TrainerCallback, TrainingArguments

    tok = AutoTokenizer.from_pretrained(backbone_dir)
    torch.manual_seed(cfg.seed)
    model = Regressor(backbone_dir, cfg.hidden_dropout, cfg.head, cfg.head_dropout)
    last: dict = {}
    pad = DataCollatorWithPadding(tok)

    def collate(feats):
        labels = torch.tensor([f["labels"] for f in feats])
        batch = pad([{k: v for k, v in f.items() if k != "labels"} for f in feats])
        batch["labels"] = labels
        last["mask"] = batch["attention_mask"]
        return batch

    class Tick(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            mask = last["mask"]
            baton.step(name, mask.shape[0], mask.numel(), int(mask.sum()))

    rows = features(data, "train")
    args = TrainingArguments(
        output_dir=out_dir, max_steps=steps, per_device_train_batch_size=cfg.batch_size, learning_rate=cfg.lr,
        weight_decay=cfg.weight_decay, warmup_steps=max(1, int(cfg.warmup_ratio * steps)),
        lr_scheduler_type="linear", max_grad_norm=cfg.grad_clip or 1e9, train_sampling_strategy="group_by_length",
        logging_strategy="no", save_strategy="no", report_to=[],
        dataloader_num_workers=0, use_cpu=True, seed=cfg.seed, disable_tqdm=True,
    )

    class Rows(torch.utils.data.Dataset):
        def __len__(self):
            return len(rows)

        def __getitem__(self, i):
            return rows[i]

    # group_by_length: Trainer's LengthGroupedSampler reads each row's input_ids length from the dataset
    Trainer(model=model, args=args, train_dataset=Rows(), data_collator=collate, callbacks=[Tick()]).train()
    return predict(model, data, cfg)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", default="e5_small")
    ap.add_argument("--head", default="mean", help="cross-encoder head of every side: mean or cls")
    ap.add_argument("--sides", nargs="+", default=["ours", "hand", "hf"],
                    help="ours, ours-torch (our trainer on torch's own dropout and attention: cpu_kernels=False), "
                         "ours-bf16 (our trainer with CPU bf16-mixed autocast), hand, hf")
    ap.add_argument("--steps", type=int, default=60, help="training steps per side (the first chunk untimed)")
    ap.add_argument("--chunk", type=int, default=5, help="steps per turn")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (all sides)")
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args(argv)
    if args.head not in ("mean", "cls"):
        ap.error("--head must be mean or cls (the sides share a cross-encoder head)")
    if args.steps < 2 * args.chunk or args.steps % args.chunk:
        ap.error("--steps must be a multiple of --chunk, at least twice it (the first chunk is warm-up)")
    torch.set_num_threads(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    space = load_space(args.space)
    backbone_dir = resolve_backbone(space.default_point()["backbone"])
    base = {"backbone": backbone_dir, "head": args.head, "batch_size": args.batch_size, "num_threads": args.threads,
            "max_epochs": 1, "val_checks_per_epoch": 1, "seed": 0}
    cfg = space.default_config(base)
    data = prepare_data(cfg)
    print(f"space {args.space}, backbone {backbone_dir}, head {args.head}, batch {args.batch_size}, "
          f"{args.steps} steps per side ({args.chunk} per turn, first turn untimed), {args.threads} threads, "
          f"dropout {cfg.hidden_dropout}, lr {cfg.lr}, warm-up {cfg.warmup_ratio}, clip {cfg.grad_clip}", flush=True)

    tmp = tempfile.mkdtemp(prefix="sts-bench-loops-")
    baton = Baton(args.sides, args.chunk)
    runners: dict[str, Callable[[], np.ndarray]] = {
        "ours": lambda: ours(baton, "ours", cfg, data, args.steps),
        "ours-bf16": lambda: ours(baton, "ours-bf16", space.default_config({**base, "precision": "bf16-mixed"}),
                                  data, args.steps),
        "ours-torch": lambda: ours(baton, "ours-torch", space.default_config({**base, "cpu_kernels": False}), data,
                                   args.steps),
        "hand": lambda: hand(baton, "hand", cfg, data, args.steps, backbone_dir),
        "hf": lambda: hf_trainer(baton, "hf", cfg, data, args.steps, backbone_dir, tmp),
    }
    unknown = [s for s in args.sides if s not in runners]
    if unknown:
        ap.error(f"unknown side(s) {unknown}; choose from {sorted(runners)}")
    preds: dict[str, np.ndarray] = {}
    errors: dict[str, BaseException] = {}

    def worker(name: str) -> None:
        baton.enter(name)
        try:
            preds[name] = runners[name]()
        except BaseException as e:  # reported below; the other sides must still get the baton
            errors[name] = e
        finally:
            baton.leave(name)

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in args.sides]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        for n, e in errors.items():
            print(f"side {n} failed: {type(e).__name__}: {e}")
        raise SystemExit(1)

    y = data.dev["label"].to_numpy(np.float64)
    ref = baton.clocks[args.sides[0]]
    ref_rate = ref.samples / ref.seconds
    print(f"\nwall {wall:.0f} s, load average at the end {os.getloadavg()[0]:.1f}")
    # samples/s depends on which pairs a side's steps drew (each side orders the data its own way); tokens/s
    # (real tokens, padding excluded) is the rate to compare when the sides' mean pair lengths differ
    ref_tok = ref.real_tokens / ref.seconds
    print(f"{'side':<10} {'timed steps':>11} {'samples/s':>10} {'vs ' + args.sides[0]:>8} {'tokens/s':>9} "
          f"{'vs ' + args.sides[0]:>8} {'tokens/pair':>11} {'pad share':>10} {'dev Pearson':>12}")
    for n in args.sides:
        c = baton.clocks[n]
        rate, tok = c.samples / c.seconds, c.real_tokens / c.seconds
        print(f"{n:<10} {c.timed_steps:>11} {rate:>10.2f} {rate / ref_rate:>7.2f}x {tok:>9.0f} {tok / ref_tok:>7.2f}x "
              f"{c.real_tokens / c.samples:>11.1f} {1 - c.real_tokens / c.tokens:>10.3f} {pearson(preds[n], y):>12.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
