"""Cut a SentencePiece (Unigram) model's vocabulary down to the pieces a Korean corpus needs.

The trimmed model keeps each kept piece's score and embedding row unchanged, so any text whose best
segmentation uses only kept pieces tokenises to the same pieces and gives the same hidden states; both
are checked on the whole corpus (tokens) and a sample of it (hidden states) before anything is published.
"""

from __future__ import annotations

import copy
import csv
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainables.offline_models.staging import OfflineBuildError

# syllables, compatibility jamo, and the conjoining jamo NFKC turns compatibility jamo into (ㅋ -> U+110F)
HANGUL = re.compile("[\uac00-\ud7a3\u3131-\u318e\u1100-\u11ff\ua960-\ua97f\ud7b0-\ud7ff]")
SPACE_MARK = "\u2581"  # SentencePiece's word-start marker
KEEP_TOP = 8000  # the lowest ids are the most frequent pieces: cheap insurance for text outside the corpus
MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
WORD_EMBEDDINGS = "embeddings.word_embeddings.weight"


class TrimError(OfflineBuildError):
    """Trimming would change what the model computes; the message says what differed."""


@dataclass(frozen=True)
class TrimReport:
    n_sentences: int
    n_used: int  # distinct pieces the corpus uses
    n_kept: int
    n_full: int
    max_hidden_diff: float
    n_params: int


def read_sentences(paths: Iterable[Path]) -> list[str]:
    """Both sentences of every row of STS CSVs (KLUE `sentence1` or competition `sentence_1` columns)."""
    texts: list[str] = []
    for path in paths:
        with open(path, encoding="utf-8", newline="") as f:
            rows = csv.DictReader(f)
            cols = next((c for c in (("sentence1", "sentence2"), ("sentence_1", "sentence_2"))
                         if set(c) <= set(rows.fieldnames or ())), None)
            if cols is None:
                raise TrimError(f"{path}: no sentence1/sentence2 (or sentence_1/sentence_2) columns")
            for row in rows:
                texts += [row[cols[0]], row[cols[1]]]
    return texts


def select_pieces(vocab: Sequence[Sequence[Any]], used: Iterable[int], special_ids: Iterable[int],
                  keep_top: int = KEEP_TOP) -> list[int]:
    """Sorted ids to keep: the corpus's pieces, ids below `keep_top`, any piece containing Hangul, every
    single-ASCII-character piece (so Latin text and digits still spell out) and the special tokens."""
    keep = set(used) | set(special_ids)
    for i, (piece, _score) in enumerate(vocab):
        core = piece.lstrip(SPACE_MARK)
        if i < keep_top or HANGUL.search(core) or (len(core) <= 1 and core.isascii()):
            keep.add(i)
    return sorted(keep)


def _remap_special_ids(obj: Any, old2new: dict[int, int]) -> None:
    """Rewrite the ids inside a post-processor's `special_tokens` entries (TemplateProcessing), in place."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "special_tokens" and isinstance(v, dict):
                for token in v.values():
                    token["ids"] = [old2new[i] for i in token["ids"]]
            else:
                _remap_special_ids(v, old2new)
    elif isinstance(obj, list):
        for v in obj:
            _remap_special_ids(v, old2new)


def trim_tokenizer_json(tj: dict[str, Any], keep: Sequence[int]) -> dict[str, Any]:
    """A copy of a Unigram tokenizer.json holding only the `keep` ids (in order), every id reference remapped."""
    if tj["model"].get("type") != "Unigram":
        raise TrimError(f"only Unigram tokenizers can be trimmed this way, not {tj['model'].get('type')!r}")
    old2new = {old: new for new, old in enumerate(keep)}
    out = copy.deepcopy(tj)
    vocab = tj["model"]["vocab"]
    out["model"]["vocab"] = [vocab[i] for i in keep]
    if tj["model"].get("unk_id") is not None:
        out["model"]["unk_id"] = old2new[tj["model"]["unk_id"]]
    for token in out.get("added_tokens", []):
        token["id"] = old2new[token["id"]]
    if out.get("post_processor"):
        _remap_special_ids(out["post_processor"], old2new)
    return out


def _tokenize_ids(tokenizer: Any, texts: Sequence[str], *, batch: int = 2000) -> list[list[int]]:
    """input_ids with special tokens from a transformers tokenizer, in batches (bounded memory)."""
    out: list[list[int]] = []
    for i in range(0, len(texts), batch):
        out += tokenizer(list(texts[i:i + batch]))["input_ids"]
    return out


def trim_model_dir(full_dir: Path, out_dir: Path, texts: Sequence[str], *, keep_top: int = KEEP_TOP,
                   hidden_tol: float = 1e-4, progress: Callable[[str], None] = lambda _: None) -> TrimReport:
    """Write the trimmed copy of the BERT + Unigram model in `full_dir` to `out_dir`, then check that every
    text tokenises to the same pieces and that hidden states on a sample are unchanged (else TrimError)."""
    from safetensors.numpy import load_file, save_file
    from transformers import AutoTokenizer

    full_dir, out_dir = Path(full_dir), Path(out_dir)
    if not texts:
        raise TrimError("the trimming corpus is empty")
    # Both vocabularies go through AutoTokenizer, the loader the trials use: raw `tokenizers` is faster to
    # load but differs from it on some inputs (a trailing no-break space keeps a lone "▁" there).
    full_tok = AutoTokenizer.from_pretrained(str(full_dir))
    used: set[int] = set()
    for i in range(0, len(texts), 2000):
        for ids in full_tok(list(texts[i:i + 2000]), add_special_tokens=False)["input_ids"]:
            used.update(ids)
    tj = json.loads((full_dir / "tokenizer.json").read_text(encoding="utf-8"))
    special_ids = [t["id"] for t in tj.get("added_tokens", [])]
    keep = select_pieces(tj["model"]["vocab"], used, special_ids, keep_top)
    old2new = {old: new for new, old in enumerate(keep)}

    cfg = json.loads((full_dir / "config.json").read_text(encoding="utf-8"))
    cfg["vocab_size"] = len(keep)
    if cfg.get("pad_token_id") is not None:
        cfg["pad_token_id"] = old2new[cfg["pad_token_id"]]
    sd = load_file(str(full_dir / "model.safetensors"))
    sd[WORD_EMBEDDINGS] = np.ascontiguousarray(sd[WORD_EMBEDDINGS][np.asarray(keep)])
    n_params = int(sum(v.size for v in sd.values()))

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "tokenizer.json").write_text(json.dumps(trim_tokenizer_json(tj, keep), ensure_ascii=False),
                                            encoding="utf-8")
    (out_dir / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    (out_dir / "tokenizer_config.json").write_bytes((full_dir / "tokenizer_config.json").read_bytes())
    save_file(sd, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    del sd
    progress(f"kept {len(keep)} of {len(tj['model']['vocab'])} pieces ({len(used)} used by "
             f"{len(texts)} sentences), {n_params / 1e6:.1f}M params")

    # Check 1: every corpus sentence, special tokens included (the post-processor's ids were remapped),
    # tokenises to the same pieces.
    trimmed_tok = AutoTokenizer.from_pretrained(str(out_dir))
    new_ids = _tokenize_ids(trimmed_tok, texts)
    old_ids = _tokenize_ids(full_tok, texts)
    bad = sum([keep[j] for j in b] != a for a, b in zip(old_ids, new_ids, strict=True))
    if bad:
        raise TrimError(f"{bad} of {len(texts)} corpus sentences tokenise differently after trimming")
    # Check 2: identical hidden states on a spread-out sample; the full model reads the same pieces
    # under their old ids (equal by check 1).
    sample = list(texts[:: max(1, len(texts) // 16)][:16])
    diff = max_hidden_diff(full_dir, out_dir, trimmed_tok(sample, padding=True, return_tensors="pt"), keep)
    if not diff <= hidden_tol:
        raise TrimError(f"hidden states differ after trimming (max abs diff {diff:.2e} > {hidden_tol:.0e})")
    return TrimReport(len(texts), len(used), len(keep), len(tj["model"]["vocab"]), diff, n_params)


def load_encoder(model_dir: Path) -> Any:
    """AutoModel without a pooler, in eval mode; a checkpoint that does not fit the model exactly is an error."""
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    # the per-tensor "Loading weights" bar would break the one-line-per-stage progress output
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model, info = AutoModel.from_pretrained(str(model_dir), add_pooling_layer=False, output_loading_info=True)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    problems = {k: v for k, v in info.items() if k != "error_msgs" and v}
    if problems:
        raise TrimError(f"{model_dir}: checkpoint does not match the model class: {problems}")
    return model.eval()


def max_hidden_diff(full_dir: Path, trimmed_dir: Path, batch: Any, keep: Sequence[int]) -> float:
    """Largest |difference| of the last hidden states: trimmed model on `batch`, full model on the same
    pieces under their full-vocabulary ids (`keep[new_id]`)."""
    import torch

    full_batch = dict(batch)
    full_batch["input_ids"] = torch.as_tensor(np.asarray(keep))[batch["input_ids"]]
    states = []
    for d, b in ((full_dir, full_batch), (trimmed_dir, batch)):
        model = load_encoder(d)
        with torch.no_grad():
            states.append(model(**b).last_hidden_state)
        del model
    return float((states[0] - states[1]).abs().max())
