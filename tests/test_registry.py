"""Adding a loss, a data format or an ensemble method is one registration: here, from this test file alone."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import pytorch_lightning as pl
import torch
from ensemble_synth import make_experiment

from ensemble import predict, select_cli
from ensemble.methods import METHODS
from trainables.config import ConfigError, TrialConfig
from trainables.data import canonical_table, read_table
from trainables.losses import RegressionLoss
from trainables.pipeline import prepare_data
from trainables.registry import DATA_FORMATS, LOSSES, Registry
from trainables.training import train


class ToyCubed(RegressionLoss):
    """mean(scale * |pred - target|^3): a loss no built-in computes, with a knob read from the config."""

    name = "toy_cubed"

    def __init__(self, huber_delta: float = 1.0) -> None:
        super().__init__()
        self.scale = huber_delta

    def compute(self, pred, target):
        return self.scale * (pred - target).abs().pow(3).mean()


def read_pipes(path: Path, text: str, require_label: bool) -> pd.DataFrame:
    """`sentence|sentence|label` lines under a header line: a format no built-in reads."""
    records, lines = [], []
    for row, line in enumerate(text.splitlines()[1:], start=2):
        s1, s2, *label = line.split("|")
        records.append({"id": f"{path.stem}-{row}", "source": "toy", "sentence_1": s1, "sentence_2": s2,
                        "label": float(label[0]) if label else math.nan})
        lines.append(row)
    return canonical_table(path, records, lines)


def first_member(preds: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    w = np.zeros(preds.shape[0])
    w[0] = 1.0
    return w


@pytest.fixture
def toys():
    LOSSES.register("toy_cubed", knobs=("huber_delta",))(ToyCubed)
    DATA_FORMATS.register("toy_pipes")(read_pipes)
    METHODS.register("toy_first", simplicity=5)(lambda: first_member)
    yield
    LOSSES.unregister("toy_cubed")
    DATA_FORMATS.unregister("toy_pipes")
    METHODS.unregister("toy_first")


@pytest.fixture
def pipe_data(small_data: dict[str, Path], tmp_path: Path) -> dict[str, Path]:
    out = {}
    for split in ("train", "dev"):
        table = pd.read_csv(small_data[split])
        rows = zip(table["sentence_1"], table["sentence_2"], table["label"], strict=True)
        body = [f"{a}|{b}|{y}" for a, b, y in rows]
        out[split] = tmp_path / f"{split}.pipes"
        out[split].write_text("\n".join(["s1|s2|label", *body]) + "\n", encoding="utf-8")
    return out


def test_unregistered_names_are_refused_with_the_registered_ones_listed(toys):
    with pytest.raises(ConfigError, match=r"loss='cubed': allowed values are .*toy_cubed"):
        TrialConfig(loss="cubed")
    with pytest.raises(ConfigError, match=r"data_format='pipes': allowed values are auto, .*toy_pipes"):
        TrialConfig(data_format="pipes")


def test_config_accepts_toys_only_while_registered():
    with pytest.raises(ConfigError, match="loss='toy_cubed'"):
        TrialConfig(loss="toy_cubed")
    LOSSES.register("toy_cubed")(ToyCubed)
    try:
        assert TrialConfig(loss="toy_cubed").loss == "toy_cubed"
    finally:
        LOSSES.unregister("toy_cubed")


def test_a_name_registered_twice_by_different_code_is_an_error():
    reg = Registry("widget", __name__)
    reg.register("w")(ToyCubed)
    with pytest.raises(ValueError, match="widget 'w' is registered twice"):
        reg.register("w")(read_pipes)
    with pytest.raises(TypeError, match="needs simplicity"):
        METHODS.register("no_rank")(first_member)


class LossSeen(pl.Callback):
    def on_validation_end(self, trainer, module):
        self.loss_fn = module.loss_fn
        self.val_loss = module.last_validation["val_loss"]
        self.dev = (module.dev_predictions.copy(), module.dev_labels)


def test_toy_loss_and_toy_format_train_end_to_end(toys, pipe_data, micro_config):
    table = read_table(pipe_data["dev"], "toy_pipes")
    assert len(table) == 96 and table["id"].iloc[0] == "dev-2"
    cfg = micro_config(
        loss="toy_cubed", huber_delta=2.0, data_format="toy_pipes",
        train_path=str(pipe_data["train"]), dev_path=str(pipe_data["dev"]),
    )
    data = prepare_data(cfg)
    assert len(data.train) == 320 and data.train["source"].eq("toy").all()
    seen = LossSeen()
    result = train(cfg, data=data, trainer_overrides={"callbacks": [seen]})
    assert result.steps == 3 and math.isfinite(result.val_pearson)
    assert isinstance(seen.loss_fn, ToyCubed) and seen.loss_fn.scale == 2.0  # its knob came from the config
    pred, labels = seen.dev
    expected = 2.0 * float(np.mean(np.abs(pred.astype(np.float32) - labels.astype(np.float32)) ** 3))
    assert seen.val_loss == pytest.approx(expected, rel=1e-4)  # the loss really used is the toy's


def test_toy_format_is_offered_by_predict(toys, pipe_data, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    argv = ["--ensemble", str(tmp_path / "nope.json"), "--input", str(pipe_data["dev"]),
            "--output", str(tmp_path / "out.csv"), "--format", "toy_pipes", "--number-rows"]
    assert predict.main(argv) == 2  # the input was read in the toy format; then the missing ensemble is named
    assert "nope.json not found" in capsys.readouterr().err


def test_method_all_includes_a_registered_toy_method(toys, tmp_path: Path):
    synth = make_experiment(tmp_path / "exp", members=4, n_dev=120, n_test=30)
    out = tmp_path / "ens"
    argv = ["--experiment", str(synth.root), "--method", "all", "--trials", "50", "--ensemble-size", "5",
            "--holdout-repeats", "3", "--output", str(out)]
    assert select_cli.main(argv) == 0
    report = json.loads((out / "ensemble.json").read_text())
    assert "toy_first" in report["methods"] and "toy_first" in report["held_out"]
    # asked for alone, it is what gets submitted: the best-ranked member only
    assert select_cli.main([*argv[:3], "toy_first", *argv[4:]]) == 0
    report = json.loads((out / "ensemble.json").read_text())
    assert report["method"] == "toy_first" and [m["trial_id"] for m in report["members"]] == [synth.ranked[0]]


def test_every_registered_head_builds(micro_config):
    from trainables.heads import make_head
    from trainables.registry import HEADS

    h = torch.randn(2, 4, 8)
    for name in HEADS.names():
        out = make_head(name, 8, 0.0)(h, torch.ones(2, 4), torch.tensor([1, 2]))
        # cross-encoder heads score each row; bi-encoder heads read rows as (first sentences, second sentences)
        assert out.shape == ((1,) if HEADS.get(name).meta.get("separate_sentences") else (2,))
