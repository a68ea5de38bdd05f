"""Shared fixtures: offline HF, a private cache per test session, and a very small model and dataset."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

# no network in tests: a missing file must fail fast instead of waiting on hub time-outs
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")

from trainables.paths import KLUE_DEV, KLUE_TRAIN, PROJECT_ROOT

TINY_BERT = PROJECT_ROOT / "assets" / "tiny-bert"


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory: pytest.TempPathFactory):
    cache = tmp_path_factory.mktemp("sts-cache")
    old = os.environ.get("STS_TUNE_CACHE")
    os.environ["STS_TUNE_CACHE"] = str(cache)
    yield cache
    if old is None:
        os.environ.pop("STS_TUNE_CACHE", None)
    else:
        os.environ["STS_TUNE_CACHE"] = old


@pytest.fixture(scope="session")
def micro_backbone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled tokenizer with an even smaller config (1 layer, hidden 32): fast option tests."""
    d = tmp_path_factory.mktemp("micro-bert")
    for f in TINY_BERT.iterdir():
        if f.is_file():
            shutil.copy(f, d / f.name)
    cfg = json.loads((TINY_BERT / "config.json").read_text())
    cfg.update(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    (d / "config.json").write_text(json.dumps(cfg))
    return d


@pytest.fixture(scope="session")
def small_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Competition-format CSVs cut from the bundled KLUE-STS: 320 train, 96 dev, 40 test rows."""
    d = tmp_path_factory.mktemp("small-data")
    train = pd.read_csv(KLUE_TRAIN).head(320)
    dev = pd.read_csv(KLUE_DEV).head(96)

    def comp(df: pd.DataFrame, prefix: str, test: bool = False) -> pd.DataFrame:
        out = pd.DataFrame({
            "id": [f"{prefix}-{i:04d}" for i in range(len(df))],
            "source": "klue",
            "sentence_1": df["sentence1"],
            "sentence_2": df["sentence2"],
        })
        if not test:
            out["label"] = df["label"].round(1)
            out["binary-label"] = (out["label"] >= 3.0).astype(float)
        return out

    paths = {"train": d / "train.csv", "dev": d / "dev.csv", "test": d / "test.csv"}
    comp(train, "train").to_csv(paths["train"], index=False)
    comp(dev, "dev").to_csv(paths["dev"], index=False)
    comp(dev.head(40), "test", test=True).to_csv(paths["test"], index=False)
    return paths


@pytest.fixture
def micro_config(micro_backbone: Path, small_data: dict[str, Path]):
    from trainables.config import TrialConfig

    def make(**kw):
        base = dict(
            backbone=str(micro_backbone), random_init=True, train_path=str(small_data["train"]),
            dev_path=str(small_data["dev"]), max_epochs=1, batch_size=16, eval_batch_size=64,
            limit_train_batches=3, lr=1e-3, num_threads=1, seed=7,
        )
        base.update(kw)
        return TrialConfig(**base)

    return make


@pytest.fixture
def refuse_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """For the bad-input tests: a check that lets a case through fails the test instead of starting work."""
    from badkit import refuse_work

    refuse_work(monkeypatch)


@pytest.fixture
def bad_data(tmp_path: Path) -> dict[str, Path]:
    """Small competition CSVs with one defect each (tests/badkit.make_data)."""
    from badkit import make_data

    return make_data(tmp_path / "data")
