"""Real searches on a local Ray instance (address="local", 2 CPUs) over a micro space.

The ASHA search runs in the default suite; the other schedulers, fault injection and resume are `slow`
(CI runs them in its second step).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from searchkit import write_micro_space

from trainables.paths import PROJECT_ROOT
from tune import search


def run_search(tmp_path, space: Path, *args: str, name: str = "exp") -> Path:
    rc = search.main([
        "--space", str(space), "--storage", str(tmp_path / "store"), "--name", name, "--num-cpus", "2",
        "--verbose", "0", *args,
    ])
    assert rc == 0
    return tmp_path / "store" / name


def board(exp: Path) -> pd.DataFrame:
    return pd.read_csv(exp / "leaderboard.csv")


def history(exp: Path) -> pd.DataFrame:
    return pd.read_csv(exp / "history.csv")


def test_optuna_asha_stops_trials_early_and_writes_the_experiment_files(
    tmp_path, micro_backbone, small_data, monkeypatch, capsys
):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb"))
    space = write_micro_space(tmp_path / "micro.yaml", micro_backbone, small_data)
    exp = run_search(tmp_path, space, "--num-samples", "6", "--max-epochs", "3", "--wandb", "sts-test",
                     "--verbose", "1")
    out = capsys.readouterr().out
    lb = board(exp)
    assert len(lb) == 6
    assert (lb["status"] == "TERMINATED").all()
    assert lb["epochs_run"].min() < 3, "ASHA stopped no trial early"
    assert lb["epochs_run"].sum() < 6 * 3
    assert lb["val_pearson"].is_monotonic_decreasing
    for col in ("trial_id", "best_epoch", "checkpoint", "config/lr", "config/head", "config/batch_size"):
        assert col in lb
    # every trial's best checkpoint holds weights + dev and test predictions
    for ckpt in lb["checkpoint"]:
        d = Path(ckpt)
        assert (d / "weights.safetensors").is_file() and (d / "dev_predictions.csv").is_file()
        assert len(pd.read_csv(d / "test_predictions.csv")) == 40
        meta = json.loads((d / "meta.json").read_text())
        row = lb[lb["checkpoint"] == ckpt].iloc[0]
        assert meta["val_pearson"] == pytest.approx(row["val_pearson"])
    summary = json.loads((exp / "summary.json").read_text())
    assert summary["best_trial_id"] == lb["trial_id"].iloc[0]
    assert summary["total_epochs"] == pytest.approx(lb["epochs_run"].sum())
    assert summary["trials_by_status"] == {"TERMINATED": 6}
    h = history(exp)
    assert set(h["trial_id"]) == set(lb["trial_id"]) and len(h) == lb["epochs_run"].sum()
    data = json.loads((exp / "data.json").read_text())
    assert len(data["dev_ids"]) == 96 and len(data["test_ids"]) == 40
    # the live view: one line per trial event, no Ray table, nothing wider than 160, ends with the next commands
    lines = out.splitlines()
    assert [line for line in lines if len(line) > 160] == []
    assert len(lines) <= 110, len(lines)
    assert not any("╭" in line or "Current best trial" in line or "SystemExit" in line for line in lines)
    assert sum(" started " in line for line in lines) == 6
    assert sum("val_pearson" in line and "] " in line for line in lines) == len(h)
    assert sum("stopped by the scheduler" in line for line in lines) == int((lb["epochs_run"] < 3).sum())
    assert "Top trials" in out
    tail = "\n".join(lines[-6:])
    assert f"ensemble/select.py --experiment {exp}" in tail and f"tune/report.py --experiment {exp}" in tail
    assert f"tensorboard --logdir {exp}" in tail
    # one offline W&B run per trial
    runs = list((tmp_path / "wandb").rglob("offline-run-*"))
    assert len(runs) == 6, runs

    # the experiment folder is the whole hand-off: ensemble selection and the report run on it as is
    from ensemble.select_cli import main as select_main
    from tune.report import main as report_main

    assert select_main(["--experiment", str(exp), "--trials", "200", "--holdout-repeats", "10"]) == 0
    ens = json.loads((exp / "ensemble" / "ensemble.json").read_text())
    assert ens["members"] and "held_out" in json.dumps(ens)
    sub = pd.read_csv(exp / "ensemble" / "submission.csv")
    assert sub["id"].tolist() == data["test_ids"] and sub["target"].between(0, 5).all()
    assert report_main(["--experiment", str(exp)]) == 0
    html = (exp / "report.html").read_text()
    for section in ("leaderboard", "learning-curves", "rungs", "hyperparameters", "compute", "ensemble"):
        assert f'id="{section}"' in html


@pytest.mark.slow
def test_grid_search_with_a_failure_injected_retries_from_the_checkpoint(
    tmp_path, micro_backbone, small_data, monkeypatch
):
    monkeypatch.setenv("STS_TUNE_FAIL_ONCE_DIR", str(tmp_path / "failures"))
    space = write_micro_space(
        tmp_path / "grid.yaml", micro_backbone, small_data, test=False,
        search={"head": {"grid": ["cls", "mean"], "default": "mean"},
                "lr": {"choice": [1.0e-3, 2.0e-3], "default": 1.0e-3}},
    )
    exp = run_search(tmp_path, space, "--search-alg", "grid", "--scheduler", "fifo", "--max-epochs", "2",
                     "--max-failures", "2")
    lb = board(exp)
    assert len(lb) == 4
    assert set(zip(lb["config/head"], lb["config/lr"], strict=True)) == {
        ("cls", 1e-3), ("cls", 2e-3), ("mean", 1e-3), ("mean", 2e-3)}
    assert (lb["status"] == "TERMINATED").all() and (lb["epochs_run"] == 2).all()
    assert len(list((tmp_path / "failures").glob("*.failed"))) == 4
    h = history(exp)
    # after the injected failure at epoch 1 each trial resumed from its epoch-1 checkpoint, not from 0
    for _, g in h.groupby("trial_id"):
        second = g[g["epoch"] == 2.0]
        assert len(second) == 1 and second["restored_epoch"].iloc[0] == 1.0


@pytest.mark.slow
def test_hyperband_pauses_and_resumes_trials_from_checkpoints(tmp_path, micro_backbone, small_data):
    space = write_micro_space(tmp_path / "hb.yaml", micro_backbone, small_data, test=False)
    # max_t 3, eta 3: Ray fills a full-budget bracket of 2 trials first, then a bracket of 3 with a rung at
    # epoch 1. One trial at a time (2 CPUs each), all created up front: trials 3 and 4 are paused at that
    # rung until trial 5 gets there; the rung's winner then continues (seeded so that it is one of the
    # paused trials: it must resume)
    exp = run_search(tmp_path, space, "--search-alg", "random", "--scheduler", "hyperband",
                     "--num-samples", "5", "--max-epochs", "3", "--reduction-factor", "3",
                     "--cpus-per-trial", "2", "--seed", "1", "--no-default-first")
    lb, h = board(exp), history(exp)
    assert len(lb) == 5 and (lb["status"] == "TERMINATED").all()
    assert (lb["epochs_run"] == 1).sum() == 2, "the epoch-1 rung stopped two of its three trials"
    resumed = h[h["restored_epoch"] > 0]
    assert len(resumed), "no trial was paused and resumed"
    # a resumed trial continues its epoch count from the checkpoint
    assert (resumed["epoch"] > resumed["restored_epoch"]).all()


@pytest.mark.slow
def test_pbt_exploits_checkpoints_of_better_trials(tmp_path, micro_backbone, small_data):
    space = write_micro_space(
        tmp_path / "pbt.yaml", micro_backbone, small_data, test=False,
        search={"lr": {"loguniform": [1.0e-5, 3.0e-3], "default": 1.0e-3}},
    )
    exp = run_search(tmp_path, space, "--search-alg", "random", "--scheduler", "pbt", "--num-samples", "4",
                     "--max-epochs", "2")
    lb, h = board(exp), history(exp)
    assert len(lb) == 4 and (lb["status"] == "TERMINATED").all()
    assert (h["restored_epoch"] > 0).any(), "PBT never exploited a checkpoint"


@pytest.mark.slow
def test_killed_driver_then_resume_finishes_without_rerunning_finished_trials(tmp_path, micro_backbone, small_data):
    space = write_micro_space(tmp_path / "kill.yaml", micro_backbone, small_data, test=False, batches=6)
    store = tmp_path / "store"
    cmd = [sys.executable, str(PROJECT_ROOT / "tune" / "search.py"), "--space", str(space), "--storage", str(store),
           "--name", "k", "--search-alg", "random", "--scheduler", "fifo", "--num-samples", "4", "--max-epochs", "2",
           "--num-cpus", "2", "--verbose", "0", "--reuse-workers", "off"]  # warm workers: all done before the kill
    env = {**os.environ}
    log = open(tmp_path / "first.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    exp = store / "k"
    deadline = time.time() + 240
    finished: dict[str, int] = {}
    while time.time() < deadline and proc.poll() is None:
        finished = _finished_trials(exp)
        if finished:
            break
        time.sleep(1)
    assert finished, f"no trial finished before the kill: {(tmp_path / 'first.log').read_text()[-2000:]}"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(2)
    assert not (exp / "leaderboard.csv").exists()
    rc = search.main(["--space", str(space), "--storage", str(store), "--name", "k", "--resume", "--num-cpus", "2",
                      "--verbose", "0"])
    assert rc == 0
    lb, h = board(exp), history(exp)
    assert len(lb) == 4 and (lb["status"] == "TERMINATED").all() and (lb["epochs_run"] == 2).all()
    for trial_id, reports in finished.items():
        # a trial that had finished before the kill was not run again
        assert (h["trial_id"] == trial_id).sum() == reports == 2


def _finished_trials(exp: Path) -> dict[str, int]:
    out = {}
    for result in exp.glob("*/result.json"):
        lines = [json.loads(x) for x in result.read_text().splitlines() if x.strip()]
        if lines and lines[-1].get("epoch") == 2.0:
            out[result.parent.name] = len(lines)
    return out


@pytest.mark.slow
def test_a_space_can_search_augmentation_and_preprocessing_variants(tmp_path, micro_backbone, small_data):
    space = write_micro_space(
        tmp_path / "aug.yaml", micro_backbone, small_data, test=False, batches=0,
        search={"augmentation": {"grid": ["none", "swap"], "default": "none"},
                "preprocess": {"choice": ["emoji,whitespace"], "default": "emoji,whitespace"}},
    )
    exp = run_search(tmp_path, space, "--search-alg", "grid", "--scheduler", "fifo", "--max-epochs", "1")
    lb, h = board(exp), history(exp)
    assert sorted(lb["config/augmentation"]) == ["none", "swap"]
    assert (lb["config/preprocess"] == '["emoji", "whitespace"]').all()
    steps = dict(zip(lb["trial_id"], lb["config/augmentation"], strict=True))
    by_aug = {steps[t]: int(g["global_step"].max()) for t, g in h.merge(lb[["trial_id"]]).groupby("trial_id")}
    # swap doubles the train rows (320 -> 640): twice the optimizer steps per epoch at batch 16
    assert by_aug["none"] == 20 and by_aug["swap"] == 40
