from __future__ import annotations

import numpy as np
import pandas as pd

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
