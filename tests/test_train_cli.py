from __future__ import annotations

import json

import pandas as pd
import pytest

from trainables.train import main


def test_train_cli_writes_result_and_best_checkpoint(micro_config, small_data, tmp_path):
    cfg = micro_config()
    out = tmp_path / "out"
    rc = main([
        "--space", "tiny", "--output", str(out),
        "--set", f"backbone={cfg.backbone}", "--set", f"train_path={cfg.train_path}",
        "--set", f"dev_path={cfg.dev_path}", "--set", f"test_path={small_data['test']}",
        "--set", "max_epochs=2", "--set", "limit_train_batches=3", "--set", "batch_size=16",
    ])
    assert rc == 0
    result = json.loads((out / "result.json").read_text())
    for key in ("val_pearson", "best_epoch", "epochs", "steps", "seconds", "pad_fraction", "config"):
        assert key in result
    assert result["epochs"] == 2.0 and result["steps"] == 6
    assert result["config"]["test_path"] == str(small_data["test"])
    best = out / "best"
    for name in ("weights.safetensors", "config.json", "meta.json", "dev_predictions.csv", "test_predictions.csv",
                 "backbone/config.json"):
        assert (best / name).is_file(), name
    dev = pd.read_csv(best / "dev_predictions.csv")
    assert list(dev.columns) == ["id", "label", "prediction"] and len(dev) == 96
    test = pd.read_csv(best / "test_predictions.csv")
    assert list(test.columns) == ["id", "prediction"] and test["id"].tolist() == [f"test-{i:04d}" for i in range(40)]
    meta = json.loads((best / "meta.json").read_text())
    assert meta["epoch"] == result["best_epoch"] and meta["val_pearson"] == result["val_pearson"]

    # the output folder is a one-trial experiment: a submission in the competition's columns, and the folder
    # is read by selection, prediction and the report like a search's
    sub = pd.read_csv(out / "submission.csv")
    assert list(sub.columns) == ["id", "target"] and sub["id"].tolist() == test["id"].tolist()
    assert sub["target"].between(0, 5).all()
    board = pd.read_csv(out / "leaderboard.csv")
    assert len(board) == 1 and board["checkpoint"].iloc[0] == str(best)
    assert board["val_pearson"].iloc[0] == pytest.approx(result["val_pearson"])
    assert len(pd.read_csv(out / "history.csv")) == 2
    data = json.loads((out / "data.json").read_text())
    assert data["dev_ids"] == dev["id"].tolist() and data["test_ids"] == test["id"].tolist()
    assert json.loads((out / "summary.json").read_text())["best_trial_id"] == "train"

    from ensemble.predict import main as predict_main
    from ensemble.select_cli import main as select_main
    from tune.report import main as report_main

    assert select_main(["--experiment", str(out), "--output", str(tmp_path / "ens")]) == 0
    ens = json.loads((tmp_path / "ens" / "ensemble.json").read_text())
    assert [m["trial_id"] for m in ens["members"]] == ["train"]
    assert predict_main(["--ensemble", str(out), "--input", str(small_data["test"]),
                         "--output", str(tmp_path / "pred.csv")]) == 0
    pred = pd.read_csv(tmp_path / "pred.csv")
    assert list(pred.columns) == ["id", "target"]
    assert pred["target"].to_numpy() == pytest.approx(sub["target"].to_numpy(), abs=1e-4)
    # the ensemble went outside the experiment folder: the report still finds it
    assert report_main(["--experiment", str(out)]) == 0
    html = (out / "report.html").read_text()
    assert 'id="ensemble"' in html and str(tmp_path / "ens" / "ensemble.json") in html


def test_bad_input_fails_before_anything_is_written(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,source,sentence_1,sentence_2,label,binary-label\na,x,가,나,7.0,1\n", encoding="utf-8")
    out = tmp_path / "never"
    rc = main(["--space", "tiny", "--output", str(out), "--set", f"train_path={bad}"])
    assert rc == 2
    assert "label 7.0 is outside [0, 5]" in capsys.readouterr().err
    assert not out.exists()


def test_unknown_set_key_is_refused(tmp_path, capsys):
    rc = main(["--space", "tiny", "--output", str(tmp_path / "o"), "--set", "epochs=3"])
    assert rc == 2 and "unknown config key 'epochs'" in capsys.readouterr().err
