"""trainables/tta.py: `tta: swap` averages both sentence orders for dev, test and predict, in real training."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trainables.checkpoint import read_meta
from trainables.config import ConfigError, TrialConfig
from trainables.inference import load_checkpoint
from trainables.metrics import pearson
from trainables.pipeline import prepare_data
from trainables.tokens import EncodedSplit
from trainables.training import train
from trainables.tta import average_views, swapped, views


class Keep:
    def __init__(self, out):
        self.out = out

    def on_validation(self, metrics, improved, write_checkpoint):
        if improved:
            write_checkpoint(self.out)


def test_swapped_exchanges_the_sentences_only() -> None:
    table = pd.DataFrame({"id": ["a", "b"], "sentence_1": ["x", "y"], "sentence_2": ["p", "q"], "label": [1.0, 2.0]})
    out = swapped(table)
    assert out["sentence_1"].tolist() == ["p", "q"] and out["sentence_2"].tolist() == ["x", "y"]
    assert out["id"].tolist() == ["a", "b"] and out["label"].tolist() == [1.0, 2.0]
    assert table["sentence_1"].tolist() == ["x", "y"]  # the input is left alone


def test_average_views_folds_stacked_views() -> None:
    np.testing.assert_allclose(average_views(np.array([1.0, 2.0, 3.0, 4.0]), 2), [2.0, 3.0])
    np.testing.assert_allclose(average_views(np.array([1.0, 2.0]), 2), [1.0, 2.0])
    with pytest.raises(ValueError, match="whole number of views"):
        average_views(np.arange(5.0), 2)


def test_views_stacks_the_swapped_rows_after_the_originals() -> None:
    def enc(rows: list[list[int]]) -> EncodedSplit:
        offsets = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
        return EncodedSplit(np.concatenate(rows).astype(np.int32), None, offsets, np.ones(len(rows), np.int32), 0)

    a, b = enc([[1, 2], [3]]), enc([[4], [5, 6]])
    both = views(a, b)
    assert len(both) == 4 and both.ids(2).tolist() == [4] and views(a, None) is a
    with pytest.raises(ValueError, match="swapped rows"):
        views(a, enc([[1]]))


def test_config_validates_tta_and_bi_heads_are_symmetric_already(micro_config) -> None:
    with pytest.raises(ConfigError, match="tta"):
        micro_config(tta="flip")
    assert micro_config(tta="swap").swap_views and not micro_config().swap_views
    assert not micro_config(tta="swap", head="bi_cosine").swap_views  # cosine of separate encodings: a no-op
    assert prepare_data(micro_config(tta="swap", head="bi_cosine")).dev_swap_enc is None
    assert TrialConfig.from_dict({"tta": "swap"}).tta == "swap"  # a config knob a space or --set may name


def test_swap_averages_both_orders_for_dev_test_and_predict(micro_config, small_data, tmp_path) -> None:
    cfg = micro_config(tta="swap", test_path=str(small_data["test"]), hidden_dropout=0.0, limit_train_batches=3)
    data = prepare_data(cfg)
    assert data.dev_swap_enc is not None and len(data.dev_swap_enc) == len(data.dev)
    assert data.test_swap_enc is not None and len(data.test_swap_enc) == len(data.test)
    result = train(cfg, Keep(tmp_path / "best"), data=data)
    saved_dev = pd.read_csv(tmp_path / "best" / "dev_predictions.csv")
    saved_test = pd.read_csv(tmp_path / "best" / "test_predictions.csv")
    assert len(saved_dev) == len(data.dev) and len(saved_test) == len(data.test)
    # val_pearson is the averaged predictions' Pearson
    assert read_meta(tmp_path / "best")["val_pearson"] == pytest.approx(
        pearson(saved_dev["prediction"].to_numpy(), data.dev["label"].to_numpy()), abs=1e-6)
    assert result.val_pearson == pytest.approx(read_meta(tmp_path / "best")["val_pearson"])

    predictor = load_checkpoint(tmp_path / "best")
    assert predictor.config.tta == "swap"
    np.testing.assert_allclose(predictor.predict(data.dev), saved_dev["prediction"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(predictor.predict(data.test), saved_test["prediction"], rtol=1e-4, atol=1e-5)

    predictor.config = predictor.config.replace(tta="none")  # the two orders, one at a time
    forward, backward = predictor.predict(data.dev), predictor.predict(swapped(data.dev))
    assert np.abs(forward - backward).max() > 1e-4  # a cross-encoder is not symmetric by itself
    np.testing.assert_allclose((forward + backward) / 2, saved_dev["prediction"], rtol=1e-4, atol=1e-5)


def test_a_space_searching_tta_prepares_the_swapped_tokens(tmp_path, micro_backbone, small_data) -> None:
    from searchkit import write_micro_space

    from trainables.space import load_space

    path = write_micro_space(tmp_path / "s.yaml", micro_backbone, small_data,
                             search={"tta": {"choice": ["none", "swap"], "default": "none"}})
    variants = load_space(str(path)).backbone_variants()
    assert sorted(v.tta for v in variants) == ["none", "swap"]
    assert [v.swap_views for v in variants if v.tta == "swap"] == [True]
