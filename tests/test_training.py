from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trainables.checkpoint import read_meta
from trainables.pipeline import prepare_data
from trainables.training import Resume, train


class Recorder:
    def __init__(self, out):
        self.out = out
        self.calls = []

    def on_validation(self, metrics, improved, write_checkpoint):
        self.calls.append((dict(metrics), improved))
        if improved:
            write_checkpoint(self.out)


def test_kfold_trial_validates_on_its_fold_and_saves_out_of_fold_predictions(micro_config, tmp_path):
    seen = []
    for fold in range(3):
        cfg = micro_config(num_folds=3, fold=fold, limit_train_batches=2)
        data = prepare_data(cfg)
        seen.append(set(data.dev["id"]))
        assert not set(data.dev["id"]) & set(data.train["id"])
        rec = Recorder(tmp_path / f"fold{fold}")
        train(cfg, rec, data=data)
        oof = pd.read_csv(tmp_path / f"fold{fold}" / "dev_predictions.csv")
        assert set(oof["id"]) == set(data.dev["id"])
    assert not (seen[0] & seen[1]) and not (seen[1] & seen[2])
    assert len(seen[0] | seen[1] | seen[2]) == 320 + 96


def test_hooks_see_every_validation_and_improvements(micro_config, tmp_path):
    rec = Recorder(tmp_path / "best")
    r = train(micro_config(max_epochs=3, limit_train_batches=3), rec)
    assert [m["epoch"] for m, _ in rec.calls] == [1.0, 2.0, 3.0]
    assert rec.calls[0][1] is True
    best = max(m["val_pearson"] for m, _ in rec.calls)
    assert r.val_pearson == best
    assert read_meta(tmp_path / "best")["val_pearson"] == best


def test_resume_continues_the_epoch_count_and_schedule(micro_config, tmp_path):
    first = Recorder(tmp_path / "ckpt")
    train(micro_config(max_epochs=1, limit_train_batches=3), first)
    meta = read_meta(tmp_path / "ckpt")
    resumed = Recorder(tmp_path / "ckpt2")
    r = train(
        micro_config(max_epochs=3, limit_train_batches=3), resumed,
        resume=Resume(tmp_path / "ckpt", meta["epoch"], meta["global_step"], -1.0),
    )
    assert [m["epoch"] for m, _ in resumed.calls] == [2.0, 3.0]
    assert [m["global_step"] for m, _ in resumed.calls] == [6, 9]
    assert r.steps == 9


def test_resume_loads_the_checkpoint_weights(micro_config, tmp_path):
    rec = Recorder(tmp_path / "ckpt")
    train(micro_config(max_epochs=1, limit_train_batches=3, hidden_dropout=0.0), rec)
    meta = read_meta(tmp_path / "ckpt")
    saved = pd.read_csv(tmp_path / "ckpt" / "dev_predictions.csv")["prediction"].to_numpy()
    # resuming at the final epoch trains nothing more; predictions from the loaded weights must match
    from trainables.inference import load_checkpoint

    pred = load_checkpoint(tmp_path / "ckpt").predict(prepare_data(micro_config()).dev)
    np.testing.assert_allclose(pred, saved, rtol=1e-4, atol=1e-5)
    assert meta["epoch"] == 1.0


def test_a_labelled_test_set_is_scored_at_improvements_and_never_selects(micro_config, small_data, tmp_path):
    rec = Recorder(tmp_path / "best")
    cfg = micro_config(max_epochs=3, limit_train_batches=3, test_path=str(small_data["dev"]))
    r = train(cfg, rec)
    improved = [m for m, imp in rec.calls if imp]
    assert all("test_pearson" in m for m in improved)
    assert all("test_pearson" not in m for m, imp in rec.calls if not imp)
    assert r.test_pearson == improved[-1]["test_pearson"]
    # the test file here is the dev file: its score must equal the dev score at the same point
    assert r.test_pearson == pytest.approx(r.val_pearson, abs=1e-9)
    saved = pd.read_csv(tmp_path / "best" / "test_predictions.csv")
    assert list(saved.columns) == ["id", "label", "prediction"]


def test_an_unlabelled_test_set_gets_predictions_but_no_score(micro_config, small_data, tmp_path):
    rec = Recorder(tmp_path / "best")
    r = train(micro_config(test_path=str(small_data["test"])), rec)
    assert np.isnan(r.test_pearson) and all("test_pearson" not in m for m, _ in rec.calls)
    assert list(pd.read_csv(tmp_path / "best" / "test_predictions.csv").columns) == ["id", "prediction"]


def test_sub_epoch_validations_report_nominal_fractions(micro_config):
    # 320 rows / 16 = 20 batches; Lightning validates after 6, 12 and 20 batches: reported as 1/3, 2/3, 1
    r = train(micro_config(val_checks_per_epoch=3, limit_train_batches=0), None)
    assert [h["epoch"] for h in r.history] == [0.3333, 0.6667, 1.0]
