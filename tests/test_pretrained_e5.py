"""A real pretrained Korean-capable backbone (multilingual-e5-small, trimmed) as a local-directory backbone.

Built by the product's own offline recipe: `python -m tune.prefetch --space e5_small` (CI does) puts it in
~/.cache/sts-tune/models/e5-small-ko ($STS_TUNE_E5_DIR overrides); the tests skip when it is not built.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from trainables.config import TrialConfig
from trainables.training import train

E5_DIR = Path(os.environ.get("STS_TUNE_E5_DIR", Path.home() / ".cache" / "sts-tune" / "models" / "e5-small-ko"))

pytestmark = pytest.mark.slow


@pytest.mark.skipif(not (E5_DIR / "model.safetensors").is_file(), reason=f"e5-small-ko not built at {E5_DIR}")
def test_pretrained_e5_fine_tunes_as_a_local_directory_backbone(small_data, tmp_path):
    cfg = TrialConfig(
        backbone=str(E5_DIR), random_init=False, head="mean", train_path=str(small_data["train"]),
        dev_path=str(small_data["dev"]), max_length=64, batch_size=16, eval_batch_size=96, lr=1e-4,
        max_epochs=2, num_threads=2, seed=0,
    )
    saved = []

    class Hooks:
        def on_validation(self, metrics, improved, write_checkpoint):
            saved.append(write_checkpoint(tmp_path / "best"))

    # the backbone really carries the pretrained weights (not a random init of the same shape)
    from safetensors.torch import load_file

    from trainables.model import build_backbone

    backbone = build_backbone(cfg)
    stored = load_file(str(E5_DIR / "model.safetensors"))
    key = next(k for k in stored if k.endswith("word_embeddings.weight"))
    assert (backbone.get_input_embeddings().weight.detach() == stored[key]).all()

    result = train(cfg, Hooks())
    assert math.isfinite(result.val_pearson)
    # pretrained weights carry signal: 40 steps on 320 pairs give a clearly positive dev correlation
    # (a random init of this size stays near 0 with this budget)
    assert result.val_pearson > 0.3, result.val_pearson
    from trainables.inference import load_checkpoint
    from trainables.pipeline import prepare_data

    pred = load_checkpoint(saved[-1]).predict(prepare_data(cfg).dev.head(8))
    assert pred.shape == (8,)


@pytest.mark.skipif(not (E5_DIR / "model.safetensors").is_file(), reason=f"e5-small-ko not built at {E5_DIR}")
def test_e5_bi_encoder_starts_from_its_zero_shot_quality_and_keeps_it(small_data):
    from trainables.baselines import ZERO_SHOT, compute_baselines
    from trainables.pipeline import prepare_data

    cfg = TrialConfig(
        backbone=str(E5_DIR), head="bi_cosine", text_prefix="query: ", train_path=str(small_data["train"]),
        dev_path=str(small_data["dev"]), max_length=64, batch_size=16, eval_batch_size=64, lr=5e-5,
        max_epochs=1, limit_train_batches=10, num_threads=2, seed=0,
    )
    data = prepare_data(cfg)
    zero = compute_baselines(cfg, data.dev, None)[ZERO_SHOT]["dev"]
    result = train(cfg, data=data)
    # the bi-encoder head is the zero-shot scorer plus an affine map: 10 small steps must not lose that quality
    assert zero > 0.6 and result.val_pearson > zero - 0.05, (zero, result.val_pearson)
