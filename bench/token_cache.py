"""Trial start, cold vs warm token cache: from nothing to "data ready for training".

One timed unit is `prepare_data(cfg)` for the tiny space's default point on the bundled KLUE-STS: read and
validate the CSVs, then either load the tokenizer and tokenize train + dev (cold: a fresh, empty cache
folder each time) or load the cached token arrays (warm). Cold and warm alternate, repetition by
repetition, in one process with 1 torch thread, so background load hits both alike.

    python bench/token_cache.py [--repeats 5] [--trials 8]

Module imports are outside the timings: a trial imports transformers for its model either way.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

# the bundled tokenizer is local: never wait on the hub
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch

from trainables.pipeline import prepare_data
from trainables.space import load_space


def timed_prepare(space: str, cache_dir: Path) -> tuple[float, int, int, int]:
    cfg = load_space(space).default_config({"cache_dir": str(cache_dir)})
    t0 = time.perf_counter()
    data = prepare_data(cfg)
    seconds = time.perf_counter() - t0
    return seconds, data.cache_hits, data.cache_misses, len(data.train) + len(data.dev)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", default="tiny", help="search space whose default point is prepared (tiny)")
    ap.add_argument("--repeats", type=int, default=5, help="cold and warm repetitions each, alternating")
    ap.add_argument("--trials", type=int, default=8, help="trials of a search, for the per-search figure")
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error("--repeats must be >= 1")
    torch.set_num_threads(1)

    cold: list[float] = []
    warm: list[float] = []
    with tempfile.TemporaryDirectory(prefix="sts-bench-tok-") as tmp:
        root = Path(tmp)
        warm_dir = root / "warm"
        # untimed: fills the warm cache and pays the one-off lazy imports (tokenizers, filelock) for both sides
        _, _, misses, rows = timed_prepare(args.space, warm_dir)
        if misses == 0:
            raise SystemExit("the warm-up call hit a cache: the cache folder override did not take effect")
        for i in range(args.repeats):
            s, hits, misses, _ = timed_prepare(args.space, root / f"cold-{i}")
            if hits:
                raise SystemExit(f"cold repetition {i} hit the cache")
            cold.append(s)
            s, hits, misses, _ = timed_prepare(args.space, warm_dir)
            if misses:
                raise SystemExit(f"warm repetition {i} missed the cache")
            warm.append(s)

    c, w = statistics.median(cold), statistics.median(warm)
    print(f"space {args.space} default point, {rows} train+dev pairs, 1 torch thread, "
          f"{args.repeats} cold/warm repetitions alternating in one process")
    print(f"cold (fresh cache dir: tokenizer load + tokenize + save): median {c:6.2f} s  "
          f"[{', '.join(f'{x:.2f}' for x in cold)}]")
    print(f"warm (cached arrays loaded)                            : median {w:6.2f} s  "
          f"[{', '.join(f'{x:.2f}' for x in warm)}]")
    print(f"ratio cold / warm = {c / w:.1f}x  ({c - w:.2f} s saved per trial start)")
    print(f"without the cache every Ray trial would pay the cold cost in its own worker: "
          f"{args.trials} trials x {c:.2f} s = {args.trials * c:.1f} s; with it the driver tokenizes once "
          f"and each trial loads arrays: {c:.2f} + {args.trials} x {w:.2f} = {c + args.trials * w:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
