"""Backbone resolution: local dir -> HF cache -> hub -> offline recipe -> one-line error (no network here)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from trainables import backbones
from trainables.backbones import (
    BackboneUnavailable,
    Recipe,
    acquire_backbone,
    backbone_available,
    plan_backbone,
    resolve_backbone,
)
from trainables.config import ConfigError
from trainables.offline_models.staging import OfflineBuildError, staged_build, write_build_info
from trainables.paths import PROJECT_ROOT
from tune import prefetch

TINY_BERT = PROJECT_ROOT / "assets" / "tiny-bert"


def model_dir(d: Path, *, weights: bool = True) -> Path:
    """Config + tokenizer (+ a weights file: resolution looks at files, it does not load them)."""
    d.mkdir(parents=True, exist_ok=True)
    for f in ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        shutil.copy(TINY_BERT / f, d / f)
    if weights:
        (d / "model.safetensors").write_bytes(b"not loaded by the resolver")
    return d


@pytest.fixture
def hf_home(tmp_path, monkeypatch) -> Path:
    """An empty private HF cache, found through the environment as read at call time."""
    home = tmp_path / "hf-home"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    return home


def cache_snapshot(hf_home: Path, repo: str, *, weights: bool = True, tokenizer: bool = True) -> Path:
    """The hub cache layout: models--org--name/refs/main -> snapshots/<commit>/files."""
    repo_dir = hf_home / "hub" / ("models--" + repo.replace("/", "--"))
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo_dir / "refs").mkdir(parents=True)
    (repo_dir / "refs" / "main").write_text(commit)
    snap = model_dir(repo_dir / "snapshots" / commit, weights=weights)
    if not tokenizer:
        for f in ("tokenizer.json", "vocab.txt"):
            (snap / f).unlink()
    return snap


def test_a_local_directory_wins(tmp_path, hf_home, monkeypatch):
    cache_snapshot(hf_home, "org/tiny")
    monkeypatch.chdir(tmp_path)
    local = model_dir(tmp_path / "org" / "tiny")  # the same spelling as the cached hub name
    assert resolve_backbone("org/tiny") == str(local)
    assert plan_backbone("org/tiny").source == "local"
    assert resolve_backbone(str(local), kind="tokenizer") == str(local)


def test_a_local_directory_must_hold_what_the_kind_needs(tmp_path):
    d = model_dir(tmp_path / "no-weights", weights=False)
    assert resolve_backbone(str(d), kind="config") == str(d)  # random init: no weights needed
    with pytest.raises(BackboneUnavailable, match="lacks weights"):
        resolve_backbone(str(d))
    with pytest.raises(BackboneUnavailable, match="no such local directory"):
        resolve_backbone(str(tmp_path / "nowhere"))
    assert issubclass(BackboneUnavailable, ConfigError)


def test_the_hf_cache_is_found_without_network(hf_home):
    snap = cache_snapshot(hf_home, "org/tiny")
    got = acquire_backbone("org/tiny")
    assert (got.source, got.location) == ("hf-cache", "org/tiny")  # the hub name: transformers finds it
    assert str(snap) in got.detail
    assert resolve_backbone("org/tiny", kind="tokenizer") == "org/tiny"


def test_a_cache_without_weights_serves_configs_not_models(hf_home):
    cache_snapshot(hf_home, "org/tiny", weights=False)
    assert resolve_backbone("org/tiny", kind="config") == "org/tiny"
    assert not backbone_available("org/tiny")
    with pytest.raises(BackboneUnavailable):
        resolve_backbone("org/tiny")


def test_an_unknown_model_is_one_line_naming_prefetch(hf_home):
    t0 = time.perf_counter()
    with pytest.raises(BackboneUnavailable) as err:
        resolve_backbone("org/not-cached")
    msg = str(err.value)
    assert time.perf_counter() - t0 < 5
    assert "\n" not in msg
    assert "'org/not-cached' is not available on this machine" in msg
    assert "HF_HUB_OFFLINE=1 forbids downloading it" in msg
    assert "python -m tune.prefetch --space SPACE" in msg and "--set backbone=/local/dir" in msg
    with pytest.raises(BackboneUnavailable, match="--set tokenizer=/local/dir"):
        resolve_backbone("org/not-cached", kind="tokenizer")


def test_an_unreachable_hub_fails_fast(hf_home, monkeypatch):
    for var in backbones.OFFLINE_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: connection refused at once
    t0 = time.perf_counter()
    with pytest.raises(BackboneUnavailable, match=r"the hub \(http://127\.0\.0\.1:9\) is unreachable"):
        resolve_backbone("org/not-cached")
    assert time.perf_counter() - t0 < 5


class ToyRecipe:
    """Writes a tiny complete model (the tiny-bert config and tokenizer) the way a real recipe publishes."""

    def __init__(self, fail: bool = False) -> None:
        self.calls = 0
        self.fail = fail

    def __call__(self, out_dir: Path, *, progress=print) -> Path:
        self.calls += 1

        def build(stage: Path) -> None:
            if self.fail:
                raise OfflineBuildError("pip download failed (no index): the offline build needs a PyPI index")
            model_dir(stage)
            progress("[toy] built")
            write_build_info(stage, {"model": "toy"}, sorted(p.name for p in stage.iterdir()))

        return staged_build(out_dir, build, progress=progress, label="toy")


@pytest.fixture
def toy_recipe(monkeypatch, tmp_path, hf_home) -> ToyRecipe:
    monkeypatch.setenv("STS_TUNE_CACHE", str(tmp_path / "sts-cache"))
    recipe = ToyRecipe()
    monkeypatch.setitem(backbones.RECIPES, "org/toy", Recipe(recipe, "toy", "instant"))
    return recipe


def test_a_recipe_builds_once_into_the_project_cache(toy_recipe, tmp_path):
    where = tmp_path / "sts-cache" / "models" / "toy"
    plan = plan_backbone("org/toy")
    assert (plan.source, plan.location) == ("build", str(where))
    assert "will build offline" in plan.detail and "instant" in plan.detail
    assert backbone_available("org/toy") and toy_recipe.calls == 0  # the dry-run check builds nothing
    with pytest.raises(BackboneUnavailable, match="build offline from PyPI wheels"):
        resolve_backbone("org/toy", allow_build=False)

    messages: list[str] = []
    assert resolve_backbone("org/toy", progress=messages.append) == str(where)
    assert toy_recipe.calls == 1 and "[toy] built" in messages
    assert resolve_backbone("org/toy", kind="tokenizer") == str(where)  # reused, not rebuilt
    assert toy_recipe.calls == 1 and plan_backbone("org/toy").source == "built"


def test_a_recipe_model_and_its_tokenizer_come_from_one_place(toy_recipe, hf_home):
    # the HF cache holds only the tokenizer: the model must not come from the recipe (trimmed vocabulary)
    # while the tokenizer comes from the cache (full vocabulary)
    cache_snapshot(hf_home, "org/toy", weights=False)
    assert resolve_backbone("org/toy", kind="tokenizer") == resolve_backbone("org/toy")


def test_a_failed_recipe_build_is_one_line(monkeypatch, tmp_path, hf_home):
    monkeypatch.setenv("STS_TUNE_CACHE", str(tmp_path / "sts-cache"))
    monkeypatch.setitem(backbones.RECIPES, "org/toy", Recipe(ToyRecipe(fail=True), "toy", "instant"))
    with pytest.raises(BackboneUnavailable) as err:
        resolve_backbone("org/toy")
    msg = str(err.value)
    assert "\n" not in msg and "offline build failed" in msg and "needs a PyPI index" in msg
    assert not (tmp_path / "sts-cache" / "models" / "toy").exists()


def write_space(path: Path, backbone: str) -> Path:
    path.write_text(json.dumps({  # JSON is YAML
        "description": "test space", "fixed": {"backbone": backbone, "random_init": False},
        "search": {"lr": {"loguniform": [1e-5, 1e-4], "default": 3e-5}},
        "scheduler": {"max_epochs": 1, "grace_period": 1, "reduction_factor": 2, "num_samples": 1},
    }))
    return path


def test_prefetch_builds_a_recipe_model(toy_recipe, tmp_path, capsys):
    space = write_space(tmp_path / "toy_space.yaml", "org/toy")
    assert prefetch.main(["--space", str(space)]) == 0
    out = capsys.readouterr().out
    where = tmp_path / "sts-cache" / "models" / "toy"
    assert f"[prefetch] model     org/toy: built offline at {where}" in out
    assert f"[prefetch] tokenizer org/toy: offline build at {where}" in out
    assert toy_recipe.calls == 1


def test_prefetch_reports_a_cached_hub_model(hf_home, tmp_path, capsys):
    cache_snapshot(hf_home, "org/tiny")
    assert prefetch.main(["--space", str(write_space(tmp_path / "s.yaml", "org/tiny"))]) == 0
    assert capsys.readouterr().out.count("org/tiny: already in the Hugging Face cache") == 2
