"""Reference scores that need no training: what a trained model must beat to be worth anything.

- `char_bigram_overlap`: Dice overlap of the two sentences' character bigrams (spaces removed), any data.
- `zero_shot_cosine`: the pretrained backbone's mean-pooled cosine, each sentence encoded alone (encoder
  backbones with pretrained weights only).

Both are Pearson correlations on dev (and on a labelled test set), computed once per dataset and backbone and
cached on disk under the cache folder.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trainables.config import TrialConfig
from trainables.data import has_labels, table_fingerprint
from trainables.fileio import atomic_write_text
from trainables.metrics import pearson
from trainables.paths import cache_root
from trainables.tokens import tokenizer_fingerprint

CHAR_BIGRAM = "char_bigram_overlap"
ZERO_SHOT = "zero_shot_cosine"


def _bigrams(s: str) -> Counter[str]:
    t = "".join(s.split())
    return Counter(t[i : i + 2] for i in range(len(t) - 1)) if len(t) > 1 else Counter([t])


def char_bigram_overlap(table: pd.DataFrame) -> np.ndarray:
    """Dice coefficient of character-bigram multisets per pair, in [0, 1]."""
    out = np.empty(len(table), dtype=np.float64)
    for i, (a, b) in enumerate(zip(table["sentence_1"], table["sentence_2"], strict=True)):
        x, y = _bigrams(a), _bigrams(b)
        total = sum(x.values()) + sum(y.values())
        out[i] = 2.0 * sum((x & y).values()) / total if total else 0.0
    return out


def zero_shot_cosine(cfg: TrialConfig, table: pd.DataFrame, *, batch_size: int = 64) -> np.ndarray:
    """The pretrained backbone's mean-pooled cosine per pair (each sentence alone, with the config's prefix)."""
    import torch

    from trainables.batching import make_loader
    from trainables.heads import mean_pool
    from trainables.model import build_backbone
    from trainables.tokens import encode_table, load_tokenizer

    tok = load_tokenizer(cfg.tokenizer or cfg.backbone)
    enc = encode_table(tok, table, cfg.max_length, prefix=cfg.text_prefix, separate=True)
    model = build_backbone(cfg, pretrained=True).eval()
    out = np.empty(len(table), dtype=np.float64)
    with torch.no_grad():
        for batch in make_loader(enc, None, batch_size, train=False, seed=0):
            h = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
            a, b = mean_pool(h, batch["attention_mask"], batch["sep_index"]).chunk(2)
            out[batch["index"].numpy()] = torch.nn.functional.cosine_similarity(a, b, dim=-1).numpy()
    return out


def _scores(pred_fn, splits: dict[str, pd.DataFrame]) -> dict[str, float]:
    return {name: round(pearson(pred_fn(t), t["label"].to_numpy(np.float64)), 4) for name, t in splits.items()}


def compute_baselines(cfg: TrialConfig, dev: pd.DataFrame, test: pd.DataFrame | None) -> dict[str, dict[str, float]]:
    """{baseline: {"dev": r, "test": r}} for this data and backbone; cached per (data, backbone, prefix)."""
    splits = {"dev": dev, **({"test": test} if has_labels(test) else {})}
    key_src: dict[str, Any] = {name: table_fingerprint(t) + str(hash_labels(t)) for name, t in splits.items()}
    out: dict[str, dict[str, float]] = {CHAR_BIGRAM: _cached("bigram", key_src, lambda: _scores(
        char_bigram_overlap, splits))}
    if not cfg.random_init:
        key = {**key_src, "backbone": tokenizer_fingerprint(cfg.backbone), "model": _weights_fingerprint(cfg.backbone),
               "prefix": cfg.text_prefix, "max_length": cfg.max_length}
        out[ZERO_SHOT] = _cached("zero-shot", key, lambda: _scores(lambda t: zero_shot_cosine(cfg, t), splits))
    return out


def hash_labels(table: pd.DataFrame) -> str:
    return hashlib.sha256(np.ascontiguousarray(table["label"].to_numpy(np.float64)).tobytes()).hexdigest()[:12]


def _weights_fingerprint(backbone: str) -> str:
    p = Path(backbone)
    if not p.is_dir():
        return "hub:" + backbone
    files = sorted(f for f in p.iterdir() if f.suffix in (".safetensors", ".bin", ".json"))
    return hashlib.sha256("".join(f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files).encode()
                          ).hexdigest()[:16]


def _cached(kind: str, key: dict[str, Any], compute) -> dict[str, float]:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    path = cache_root() / "baselines" / f"{kind}-{digest}.json"
    if path.is_file():
        return json.loads(path.read_text())
    scores = compute()
    atomic_write_text(path, json.dumps(scores))
    return scores


def compare_line(name: str, score: float, baselines: dict[str, dict[str, float]], split: str = "dev") -> str:
    """'0.8712 on dev: +0.19 over char_bigram_overlap (0.68), +0.09 over zero_shot_cosine (0.78)'."""
    parts = []
    for base, scores in baselines.items():
        if split in scores and np.isfinite(scores[split]):
            diff = score - scores[split]
            word = "over" if diff >= 0 else "BELOW"
            parts.append(f"{diff:+.3f} {word} {base} ({scores[split]:.3f})")
    return f"{name} {score:.4f} on {split}" + (": " + ", ".join(parts) if parts else "")
