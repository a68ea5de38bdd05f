from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ensemble_synth import make_experiment

from ensemble import select_cli
from trainables.metrics import pearson

REPO = Path(__file__).resolve().parents[1]


def run(argv: list[str]) -> int:
    return select_cli.main([str(a) for a in argv])


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def test_mean_beats_every_single_member(tmp_path: Path) -> None:
    synth = make_experiment(tmp_path / "exp", members=6, noise=1.0)
    assert run(["--experiment", synth.root, "--method", "mean", "--holdout-repeats", "10"]) == 0
    report = read_json(synth.root / "ensemble" / "ensemble.json")
    singles = [pearson(p, synth.labels) for p in synth.dev_preds]
    assert report["method"] == "mean" and len(report["members"]) == 6
    assert report["dev_pearson"] > max(singles)
    assert report["held_out"]["mean"]["mean"] > report["held_out"]["single"]["mean"]


def test_all_methods_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    synth = make_experiment(tmp_path / "exp", members=8, noise=[0.8, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0, 2.2])
    out = tmp_path / "out"
    argv = [
        "--experiment",
        synth.root,
        "--output",
        out,
        "--trials",
        "500",
        "--ensemble-size",
        "15",
        "--holdout-repeats",
        "8",
        "--seed",
        "1",
        "--top-k",
        "7",
    ]
    assert run(argv) == 0
    printed = capsys.readouterr().out
    assert "selection loop (random, 500 subsets of 7)" in printed and "<- chosen" in printed
    assert "per-label-bucket" in printed
    report = read_json(out / "ensemble.json")
    assert set(report["held_out"]) == {"random", "greedy", "stacking", "weighted", "mean", "single"}
    for h in report["held_out"].values():
        assert {"mean", "sd", "optimism", "selection_mean"} <= set(h) and h["repeats"] == 8
    best_held = max(h["mean"] for h in report["held_out"].values())
    assert report["held_out"][report["method"]]["mean"] == best_held
    assert len(report["candidates"]) == 7
    assert sum(m["weight"] for m in report["members"]) == pytest.approx(1.0)
    assert all(Path(m["checkpoint"]).is_dir() for m in report["members"])
    assert report["curves"]["greedy"]["steps"][0]["step"] == 1
    assert report["curves"]["random"]["points"][-1]["dev_pearson"] == pytest.approx(
        report["methods"]["random"]["dev_pearson"]
    )
    assert [b["bucket"] for b in report["buckets"]["ensemble"]][-1] == "all"
    assert report["buckets"]["best_single"][-1]["count"] == len(synth.labels)
    dev = pd.read_csv(out / "dev_predictions.csv", dtype={"id": str})
    assert list(dev.columns) == ["id", "label", "prediction"] and list(dev["id"]) == synth.dev_ids
    # Same seed, same answer.
    assert run(argv) == 0
    assert read_json(out / "ensemble.json")["weights"] == report["weights"]


def test_submission_has_test_ids_in_file_order_clipped_and_rounded(tmp_path: Path) -> None:
    synth = make_experiment(tmp_path / "exp", members=3, noise=2.0, n_test=200)
    assert synth.test_preds is not None and (synth.test_preds.mean(axis=0) > 5).any()
    assert (
        run(["--experiment", synth.root, "--method", "mean", "--round", "1", "--holdout-repeats", "0"]) == 0
    )
    sub = pd.read_csv(synth.root / "ensemble" / "submission.csv", dtype={"id": str})
    assert list(sub.columns) == ["id", "target"]
    assert list(sub["id"]) == synth.test_ids
    assert sub["target"].between(0.0, 5.0).all() and (sub["target"] == 5.0).any()
    np.testing.assert_allclose(
        sub["target"], np.clip(synth.test_preds.mean(axis=0), 0, 5).round(1), atol=1e-9
    )


def test_greedy_with_duplicated_best_member_scores_as_without(tmp_path: Path) -> None:
    base = make_experiment(tmp_path / "a", members=5)
    best = int(np.argmax([pearson(p, base.labels) for p in base.dev_preds]))
    dup = make_experiment(tmp_path / "b", dev_preds=np.vstack([base.dev_preds, base.dev_preds[best]]))
    for root in (base.root, dup.root):
        assert run(["--experiment", root, "--method", "greedy", "--holdout-repeats", "5"]) == 0
    a = read_json(base.root / "ensemble" / "ensemble.json")
    b = read_json(dup.root / "ensemble" / "ensemble.json")
    assert b["dev_pearson"] == pytest.approx(a["dev_pearson"], abs=1e-12)


def test_no_test_predictions_means_no_submission(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    synth = make_experiment(tmp_path / "exp", members=3, n_test=None)
    out = synth.root / "ensemble"
    out.mkdir()
    (out / "submission.csv").write_text("id,target\nstale,1\n")
    assert run(["--experiment", synth.root, "--method", "weighted", "--holdout-repeats", "3"]) == 0
    assert "no submission written" in capsys.readouterr().out
    assert not (out / "submission.csv").exists()
    assert read_json(out / "ensemble.json")["submission"] is None
    assert run(["--experiment", synth.root, "--require-test"]) == 2
    assert "--require-test" in capsys.readouterr().err


def test_bad_input_is_reported_and_leaves_no_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    synth = make_experiment(tmp_path / "exp", members=3)
    (synth.checkpoint(synth.ranked[1]) / "dev_predictions.csv").unlink()
    assert run(["--experiment", synth.root]) == 2
    assert f"trial {synth.ranked[1]}: missing dev_predictions.csv" in capsys.readouterr().err
    assert not (synth.root / "ensemble").exists()


def test_skipped_trials_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    extra = [
        {
            "trial_id": "trial_dead",
            "val_pearson": None,
            "best_epoch": None,
            "epochs_run": 0,
            "status": "ERROR",
            "seconds": 1.0,
            "checkpoint": "",
            "config/lr": 1e-4,
        }
    ]
    synth = make_experiment(tmp_path / "exp", members=3, extra_rows=extra)
    assert run(["--experiment", synth.root, "--method", "mean", "--holdout-repeats", "0"]) == 0
    assert "skipped 1 trial(s) without a checkpoint: trial_dead" in capsys.readouterr().out
    assert read_json(synth.root / "ensemble" / "ensemble.json")["skipped_trials"] == ["trial_dead"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--top-k", "0"], "--top-k must be >= 1"),
        (["--holdout-repeats", "0"], "--method all picks the winner"),
        (["--round", "-1"], "--round must be >= 0"),
    ],
)
def test_argument_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert run(["--experiment", tmp_path, *argv]) == 2
    assert message in capsys.readouterr().err


def test_runs_as_a_script_from_another_directory(tmp_path: Path) -> None:
    # Run by path, ensemble/select.py must still let torch, pandas & co. import the standard library's `select`.
    synth = make_experiment(tmp_path / "exp", members=3)
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "ensemble" / "select.py"),
            "--experiment",
            str(synth.root),
            "--method",
            "greedy",
            "--holdout-repeats",
            "2",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (synth.root / "ensemble" / "submission.csv").is_file()


def _held(method: str, scores):
    from ensemble.honest import HeldOut

    return HeldOut(method, list(scores), list(scores))


def test_method_all_keeps_a_simpler_method_unless_the_complex_one_wins_beyond_the_noise():
    from ensemble.selection import Selection, choose

    rng = np.random.default_rng(0)
    base = 0.9 + rng.normal(0, 0.01, 40)  # per-repeat held-out Pearson of `single` on 40 shared halves
    selections = {m: Selection(m, np.ones(1), 0.9, 0.0) for m in ("single", "mean", "greedy")}
    # greedy is ahead on average, but by less than the paired noise: the simpler `mean` is kept
    noisy = {"single": _held("single", base - 0.02), "mean": _held("mean", base),
             "greedy": _held("greedy", base + 0.001 + np.tile([0.02, -0.02], 20))}
    assert noisy["greedy"].mean > noisy["mean"].mean
    assert choose(selections, noisy, "all") == "mean"
    # ahead on every half by a clear margin: greedy wins
    clear = {**noisy, "greedy": _held("greedy", base + 0.01)}
    assert choose(selections, clear, "all") == "greedy"
    # a method asked for by name is used as asked
    assert choose(selections, noisy, "single") == "single"
