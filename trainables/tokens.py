"""Tokenize once: token arrays cached on disk per (tokenizer, max_length, data, preprocessing).

A cache hit loads numpy arrays and never constructs a tokenizer, so Ray trials (and every later run)
start without re-tokenizing. Arrays are ragged (flat ids + offsets) so nothing is padded on disk.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import tempfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from filelock import FileLock

from trainables.data import table_fingerprint
from trainables.fileio import publishable
from trainables.paths import cache_root

CACHE_VERSION = 1
# Token arrays kept in this process after their first load (a reused Ray trial worker, or a driver that prepares
# data and then trains): keyed by the cache file and its (mtime, size), so a rewritten file is read again.
# The arrays are made read-only, so one trial cannot change what the next one gets.
WARM_ENTRIES = 12
_warm: OrderedDict[tuple[str, int, int], EncodedSplit] = OrderedDict()
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "sentencepiece.bpe.model",
    "spiece.model",
    "added_tokens.json",
)


@dataclass
class EncodedSplit:
    """Token ids of one split; row i is flat[offsets[i]:offsets[i+1]].

    A pair encoding (cross-encoders) holds `tokenizer(s1, s2)` per row. A separate encoding (bi-encoders)
    holds `tokenizer(s1)` per row and `second` holds `tokenizer(s2)` for the same rows.
    """

    flat_ids: np.ndarray  # int32
    flat_types: np.ndarray | None  # int8 token_type_ids, None when the tokenizer has none
    offsets: np.ndarray  # int64, len n+1
    sep_index: np.ndarray  # int32: position of the first separator (end of sentence 1)
    pad_token_id: int
    second: EncodedSplit | None = None

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def widths(self) -> np.ndarray:
        """Padded width each row needs in a batch: both sentences share one batch in separate encodings."""
        if self.second is None:
            return self.lengths
        return np.maximum(self.lengths, self.second.lengths)

    @property
    def part_lengths(self) -> np.ndarray:
        """Lengths of every sequence a row feeds the model: shape (n,) for pairs, (n, 2) for separate sentences."""
        return self.lengths if self.second is None else np.stack([self.lengths, self.second.lengths], axis=1)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def ids(self, i: int) -> np.ndarray:
        return self.flat_ids[self.offsets[i] : self.offsets[i + 1]]

    def types(self, i: int) -> np.ndarray | None:
        if self.flat_types is None:
            return None
        return self.flat_types[self.offsets[i] : self.offsets[i + 1]]

    def subset(self, rows: np.ndarray) -> EncodedSplit:
        lengths = self.lengths[rows]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        flat = np.concatenate([self.ids(int(i)) for i in rows]) if len(rows) else np.zeros(0, np.int32)
        types = None
        if self.flat_types is not None:
            types = np.concatenate([self.types(int(i)) for i in rows]) if len(rows) else np.zeros(0, np.int8)
        second = self.second.subset(rows) if self.second is not None else None
        return EncodedSplit(flat, types, offsets, self.sep_index[rows], self.pad_token_id, second)

    @staticmethod
    def concat(parts: list[EncodedSplit]) -> EncodedSplit:
        offsets = [np.zeros(1, np.int64)]
        total = 0
        for p in parts:
            offsets.append(p.offsets[1:] + total)
            total += int(p.offsets[-1])
        types = None
        if all(p.flat_types is not None for p in parts):
            types = np.concatenate([p.flat_types for p in parts])  # type: ignore[misc]
        if any((p.second is None) != (parts[0].second is None) for p in parts):
            raise ValueError("cannot concatenate pair and separate-sentence encodings")
        second = EncodedSplit.concat([p.second for p in parts]) if parts[0].second is not None else None  # type: ignore[misc]
        return EncodedSplit(
            np.concatenate([p.flat_ids for p in parts]),
            types,
            np.concatenate(offsets),
            np.concatenate([p.sep_index for p in parts]),
            parts[0].pad_token_id,
            second,
        )


def tokenizer_fingerprint(name_or_path: str) -> str:
    """Identity of a tokenizer without loading it: file hashes for a local dir, the name for a hub id."""
    p = Path(name_or_path)
    if p.is_dir():
        h = hashlib.sha256()
        for fname in TOKENIZER_FILES:
            f = p / fname
            if f.is_file():
                h.update(fname.encode())
                h.update(hashlib.sha256(f.read_bytes()).digest())
        return "dir:" + h.hexdigest()[:20]
    return "hub:" + name_or_path


def cache_key(
    tokenizer: str, max_length: int, table: pd.DataFrame, preprocess_key: str = "", *, prefix: str = "",
    separate: bool = False,
) -> str:
    fields: dict[str, object] = {
        "v": CACHE_VERSION,
        "tokenizer": tokenizer_fingerprint(tokenizer),
        "max_length": max_length,
        "data": table_fingerprint(table),
        "preprocess": preprocess_key,
    }
    if prefix or separate:  # only then, so caches of pair encodings without a prefix keep their keys
        fields.update(prefix=prefix, separate=separate)
    payload = json.dumps(fields, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


@functools.lru_cache(maxsize=4)
def load_tokenizer(name_or_path: str):
    """A tokenizer, loaded once per process (kept warm in a reused trial worker)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(name_or_path)


def encode_table(
    tokenizer, table: pd.DataFrame, max_length: int, *, prefix: str = "", separate: bool = False
) -> EncodedSplit:
    """Pairs go to the tokenizer as a pair: special tokens and separators are the model's own.

    `separate=True` (bi-encoders) tokenizes each sentence alone, each truncated to `max_length`.
    """
    first = [prefix + s for s in table["sentence_1"]]
    second = [prefix + s for s in table["sentence_2"]]
    if separate:
        a = _encode(tokenizer, tokenizer(first, truncation=True, max_length=max_length, return_token_type_ids=None))
        a.second = _encode(
            tokenizer, tokenizer(second, truncation=True, max_length=max_length, return_token_type_ids=None)
        )
        return a
    return _encode(
        tokenizer, tokenizer(first, second, truncation=True, max_length=max_length, return_token_type_ids=None)
    )


def _encode(tokenizer, enc) -> EncodedSplit:
    ids = enc["input_ids"]
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    flat = np.fromiter((t for row in ids for t in row), dtype=np.int32, count=int(offsets[-1]))
    types = None
    if "token_type_ids" in enc and enc["token_type_ids"] is not None:
        types = np.fromiter((t for row in enc["token_type_ids"] for t in row), dtype=np.int8, count=len(flat))
    sep_id = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
    sep_index = np.zeros(len(ids), dtype=np.int32)
    for i, row in enumerate(ids):
        # the first separator after position 0 ends sentence 1 (RoBERTa puts </s></s> between sentences)
        for j in range(1, len(row)):
            if row[j] == sep_id:
                sep_index[i] = j
                break
        else:
            sep_index[i] = len(row) - 1
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return EncodedSplit(flat, types, offsets, sep_index, int(pad))


class TokenCache:
    """Token arrays on disk under `<cache>/tokens/<key>.npz`, written atomically under a file lock."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.dir = cache_root(root) / "tokens"
        self.hits = 0
        self.misses = 0

    def path(self, key: str) -> Path:
        return self.dir / f"{key}.npz"

    def get_or_encode(
        self, tokenizer_name: str, table: pd.DataFrame, max_length: int, preprocess_key: str = "", tokenizer=None,
        *, prefix: str = "", separate: bool = False,
    ) -> EncodedSplit:
        key = cache_key(tokenizer_name, max_length, table, preprocess_key, prefix=prefix, separate=separate)
        path = self.path(key)
        if path.is_file():
            self.hits += 1
            return self._load_warm(path)
        self.dir.mkdir(parents=True, exist_ok=True)
        # several trials (or nodes on shared storage) may start at once: one tokenizes, the rest wait
        with FileLock(str(path) + ".lock"):
            if path.is_file():
                self.hits += 1
                return self._load_warm(path)
            self.misses += 1
            tok = tokenizer if tokenizer is not None else load_tokenizer(tokenizer_name)
            split = encode_table(tok, table, max_length, prefix=prefix, separate=separate)
            self._save(path, split)
            return split

    @classmethod
    def _load_warm(cls, path: Path) -> EncodedSplit:
        st = path.stat()
        key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
        split = _warm.get(key)
        if split is None:
            split = _read_only(cls._load(path))
            _warm[key] = split
            while len(_warm) > WARM_ENTRIES:
                _warm.popitem(last=False)
        _warm.move_to_end(key)
        return _shallow_copy(split)

    @staticmethod
    def _load(path: Path) -> EncodedSplit:
        with np.load(path) as z:

            def part(p: str) -> EncodedSplit:
                types = z[p + "flat_types"] if p + "flat_types" in z.files else None
                return EncodedSplit(
                    z[p + "flat_ids"], types, z[p + "offsets"], z[p + "sep_index"], int(z["pad_token_id"])
                )

            split = part("")
            if "second_flat_ids" in z.files:
                split.second = part("second_")
            return split

    @staticmethod
    def _save(path: Path, split: EncodedSplit) -> None:
        arrays: dict[str, np.ndarray] = {"pad_token_id": np.array(split.pad_token_id)}
        for p, part in (("", split), ("second_", split.second)):
            if part is None:
                continue
            arrays.update({p + "flat_ids": part.flat_ids, p + "offsets": part.offsets, p + "sep_index": part.sep_index})
            if part.flat_types is not None:
                arrays[p + "flat_types"] = part.flat_types
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            publishable(tmp)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _read_only(split: EncodedSplit) -> EncodedSplit:
    for part in (split, split.second):
        if part is None:
            continue
        for arr in (part.flat_ids, part.flat_types, part.offsets, part.sep_index):
            if arr is not None:
                arr.setflags(write=False)
    return split


def _shallow_copy(split: EncodedSplit) -> EncodedSplit:
    """A new EncodedSplit over the same (read-only) arrays: attribute changes stay with the caller."""
    second = dataclasses.replace(split.second) if split.second is not None else None
    return dataclasses.replace(split, second=second)


def clear_warm() -> None:
    """Forget the token arrays kept in this process (tests, benches)."""
    _warm.clear()
