"""ensemble/predict.py: reading ensemble.json and its errors.

Predicting through real member checkpoints needs trainables.inference.load_checkpoint; that test is skipped
until the module exists.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ensemble_synth import make_experiment

from ensemble import predict, select_cli


def write_spec(path: Path, members: list[dict], rounding: int | None = None) -> Path:
    path.write_text(json.dumps({"members": members, "settings": {"round": rounding}}))
    return path


def test_reads_what_select_writes(tmp_path: Path) -> None:
    synth = make_experiment(tmp_path / "exp", members=4)
    assert (
        select_cli.main(
            ["--experiment", str(synth.root), "--method", "greedy", "--round", "1", "--holdout-repeats", "2"]
        )
        == 0
    )
    spec = predict.read_ensemble(synth.root / "ensemble" / "ensemble.json")
    assert spec.decimals == 1
    assert sum(m.weight for m in spec.members) == pytest.approx(1.0)
    assert all(m.checkpoint.is_dir() for m in spec.members)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"method": "mean"}), "no 'members' list"),
        (json.dumps({"members": [{"trial_id": "t"}]}), r"members\[0\] needs trial_id, checkpoint and weight"),
        (
            json.dumps({"members": [{"trial_id": "t", "checkpoint": "/x", "weight": "heavy"}]}),
            "non-numeric weight",
        ),
        (json.dumps({"members": [{"trial_id": "t", "checkpoint": "/x", "weight": -1}]}), "member t: weight"),
        (
            json.dumps({"members": [{"trial_id": "t", "checkpoint": "/x", "weight": 0}]}),
            "no member with a positive",
        ),
    ],
)
def test_bad_ensemble_json(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "ensemble.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        predict.read_ensemble(path)


def test_cli_reports_missing_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "preds.csv"
    argv = [
        "--ensemble",
        str(tmp_path / "nope.json"),
        "--input",
        str(tmp_path / "new.csv"),
        "--output",
        str(out),
    ]
    assert predict.main(argv) == 2
    assert "new.csv: file not found" in capsys.readouterr().err
    (tmp_path / "new.csv").write_text("id,source,sentence_1,sentence_2\na,x,가,나\n", encoding="utf-8")
    assert predict.main(argv) == 2
    assert "nope.json not found" in capsys.readouterr().err
    assert not out.exists()


def test_missing_member_checkpoint_is_named_before_loading(tmp_path: Path) -> None:
    import pandas as pd

    spec = predict.read_ensemble(
        write_spec(
            tmp_path / "e.json", [{"trial_id": "gone", "checkpoint": str(tmp_path / "gone"), "weight": 1.0}]
        )
    )
    table = pd.DataFrame(
        {"id": ["a"], "source": [""], "sentence_1": ["x"], "sentence_2": ["y"], "label": [None]}
    )
    with pytest.raises(ValueError, match="member gone: checkpoint directory"):
        predict.predict_table(spec, table)
    (tmp_path / "gone").mkdir()
    with pytest.raises(ValueError, match=r"member gone: .* has no weights\.safetensors"):
        predict.predict_table(spec, table)


def _competition_files(root: Path) -> tuple[Path, Path, Path]:
    """Small competition-format train/dev/test files cut from the bundled KLUE-STS dev set."""
    import pandas as pd

    klue = pd.read_csv(Path(__file__).resolve().parents[1] / "data" / "klue-sts" / "klue_sts_val.csv")
    table = pd.DataFrame(
        {
            "id": [f"row-{i:04d}" for i in range(len(klue))],
            "source": "klue",
            "sentence_1": klue["sentence1"],
            "sentence_2": klue["sentence2"],
            "label": klue["label"].round(1),
            "binary-label": (klue["label"].round(1) >= 3.0).astype(float),
        }
    )
    root.mkdir(parents=True, exist_ok=True)
    paths = root / "train.csv", root / "dev.csv", root / "test.csv"
    table.iloc[:64].to_csv(paths[0], index=False)
    table.iloc[64:104].to_csv(paths[1], index=False)
    table.iloc[104:124, :4].to_csv(paths[2], index=False)  # test: no label columns
    return paths


def test_predict_reproduces_the_selected_ensemble(tmp_path: Path) -> None:
    """Two tiny trained checkpoints -> select.py -> predict.py on the test file == submission.csv."""
    import numpy as np
    import pandas as pd

    from trainables import train as train_cli

    train, dev, test = _competition_files(tmp_path / "data")
    exp = tmp_path / "exp"
    rows = []
    for seed in (1, 2):
        out = exp / f"trial_{seed}"
        knobs = {
            "train_path": train,
            "dev_path": dev,
            "test_path": test,
            "max_epochs": 1,
            "limit_train_batches": 2,
            "max_length": 32,
            "seed": seed,
            "cache_dir": tmp_path / "cache",
        }
        argv = ["--space", "tiny", "--output", str(out)]
        for key, value in knobs.items():
            argv += ["--set", f"{key}={value}"]
        assert train_cli.main(argv) == 0
        meta = json.loads((out / "best" / "meta.json").read_text())
        rows.append(
            {
                "rank": 0,
                "trial_id": f"trial_{seed}",
                "val_pearson": meta["val_pearson"],
                "checkpoint": str(out / "best"),
            }
        )
    pd.DataFrame(rows).to_csv(exp / "leaderboard.csv", index=False)

    assert select_cli.main(["--experiment", str(exp), "--method", "mean", "--holdout-repeats", "2"]) == 0
    predicted = tmp_path / "preds.csv"
    argv = [
        "--ensemble",
        str(exp / "ensemble" / "ensemble.json"),
        "--input",
        str(test),
        "--output",
        str(predicted),
    ]
    assert predict.main(argv) == 0
    got = pd.read_csv(predicted, dtype={"id": str})
    want = pd.read_csv(exp / "ensemble" / "submission.csv", dtype={"id": str})
    assert list(got["id"]) == list(want["id"])
    np.testing.assert_allclose(got["target"], want["target"], atol=1e-4)
