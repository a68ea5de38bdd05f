"""Benchmark the preprocessing cache: the same sentences cold (empty cache dir) vs cached.

    python bench/preprocess.py [--sentences 20000] [--steps emoji,jamo_runs,repeats,spacing]

Target (issue: Korean text preprocessing): the cached run is >= 20x faster than the cold one.
Sentences come from the bundled KLUE-STS train file, made unique (and perturbed when more are asked for
than the file holds) so every one of them is really computed in the cold run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from trainables import preprocess
from trainables.preprocess import preprocess_table

REPO = Path(__file__).resolve().parents[1]
CANDIDATES = (
    REPO / "data" / "klue-sts" / "klue_sts_train.csv",
    REPO.parent / "shared" / "data" / "klue-sts" / "klue_sts_train.csv",
)
# Chat-style decorations so jamo_runs/repeats/emoji have something to do on the extra copies.
_PERTURB = ("ㅋㅋㅋㅋ", "ㅠㅠ", "!!!!", "😀", "ㅎㅎㅎ")


def load_sentences(n: int) -> list[str]:
    path = next((p for p in CANDIDATES if p.exists()), None)
    if path is None:
        raise SystemExit(f"KLUE-STS train file not found in any of: {', '.join(map(str, CANDIDATES))}")
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    base = list(dict.fromkeys(table["sentence1"].tolist() + table["sentence2"].tolist()))
    sentences = base[:n]
    k = 0
    while len(sentences) < n:
        s = base[k % len(base)]
        sentences.append(f"{s}{_PERTURB[(k // len(base)) % len(_PERTURB)]}{k // len(base)}")
        k += 1
    return sentences


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=20_000)
    parser.add_argument("--steps", default="emoji,jamo_runs,repeats,spacing")
    args = parser.parse_args(argv)
    if args.sentences < 2:
        parser.error("--sentences must be >= 2")
    steps = [s for s in args.steps.split(",") if s]

    sentences = load_sentences(args.sentences)
    half = len(sentences) // 2
    table = pd.DataFrame(
        {
            "id": [f"b{i}" for i in range(half)],
            "sentence_1": sentences[:half],
            "sentence_2": sentences[half : 2 * half],
        }
    )
    print(f"{2 * half} sentences ({len(set(sentences[: 2 * half]))} unique), steps {','.join(steps)}")

    with tempfile.TemporaryDirectory(prefix="sts-bench-pre-") as tmp:
        cache = Path(tmp)
        t0 = time.perf_counter()
        if "spacing" in steps or "typos" in steps:
            preprocess._kiwi()  # model load, timed apart: paid once per process, cache or not
        t_load = time.perf_counter() - t0

        t0 = time.perf_counter()
        cold = preprocess_table(table, steps, cache_dir=cache)
        t_cold = time.perf_counter() - t0

        t0 = time.perf_counter()
        cached = preprocess_table(table, steps, cache_dir=cache)
        t_cached = time.perf_counter() - t0

    if not cold.equals(cached):
        raise SystemExit("cached output differs from the cold output")
    print(f"kiwi model load {t_load:7.2f} s")
    print(f"cold            {t_cold:7.2f} s  (+ load = {t_cold + t_load:.2f} s)")
    print(f"cached          {t_cached:7.3f} s")
    print(
        f"speed-up        {t_cold / t_cached:7.1f}x  ({(t_cold + t_load) / t_cached:.1f}x counting the load)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
