"""Predict with a saved checkpoint directory on any canonical table (CPU by default)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from trainables.checkpoint import BACKBONE_DIR, load_weights, read_config
from trainables.config import TrialConfig


@dataclass
class Predictor:
    model: object
    config: TrialConfig
    tokenizer: object

    def predict(self, table: pd.DataFrame, batch_size: int | None = None) -> np.ndarray:
        from trainables.batching import make_loader
        from trainables.tokens import encode_table

        cfg = self.config
        from trainables.tta import average_views, swapped, views

        def encode(rows: pd.DataFrame):
            return encode_table(
                self.tokenizer, rows, cfg.max_length, prefix=cfg.text_prefix, separate=cfg.separate_sentences
            )

        # tta: swap (trainables/tta.py) predicts both sentence orders and averages, as at training time
        enc = views(encode(table), encode(swapped(table)) if cfg.swap_views else None)
        pad_to = self.config.max_length if self.config.padding == "max_length" else None
        # an explicit batch_size is a row count; else the trial's own inference batching (rows and token budget)
        loader = make_loader(enc, None, batch_size or cfg.eval_batch_size, train=False, seed=0, pad_to=pad_to,
                             max_tokens=0 if batch_size else cfg.eval_batch_tokens)
        return average_views(self.model.predict_loader(loader), len(table))


def load_checkpoint(path: str | Path, device: str = "cpu") -> Predictor:
    """Rebuild the regressor from the checkpoint's own backbone config (no pretrained download) + weights."""
    from transformers import AutoConfig

    from trainables.model import STSRegressor
    from trainables.tokens import load_tokenizer

    path = Path(path)
    from trainables.kfold import is_unit, load_unit

    if is_unit(path):  # K fold models as one candidate: their mean (trainables/kfold.py)
        return load_unit(path, device)  # type: ignore[return-value]
    if not (path / "weights.safetensors").is_file():
        raise FileNotFoundError(f"{path}: not a checkpoint directory (weights.safetensors missing)")
    cfg = TrialConfig.from_dict(read_config(path), source=str(path / "config.json"))
    hf = AutoConfig.from_pretrained(path / BACKBONE_DIR) if (path / BACKBONE_DIR).is_dir() else None
    model = STSRegressor(cfg, hf_config=hf, pretrained=False)
    model.to(device)
    load_weights(model, path)
    model.eval()
    tokenizer = load_tokenizer(cfg.tokenizer or cfg.backbone)
    return Predictor(model, cfg, tokenizer)
