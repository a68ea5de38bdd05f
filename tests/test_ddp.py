"""`--workers-per-trial 2`: each trial is trained by 2 Ray Train workers with DDP (gloo on CPU)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from searchkit import write_micro_space

from trainables.batching import LengthBucketBatchSampler, ShardedBatchSampler
from tune import search


def test_each_rank_gets_its_own_equal_share_of_every_epoch():
    lengths = np.arange(50) % 17 + 3

    def sampler() -> LengthBucketBatchSampler:
        return LengthBucketBatchSampler(lengths, 4, seed=1, limit_batches=7, start_epoch=2)

    ranks = [ShardedBatchSampler(sampler(), rank, 2) for rank in range(2)]
    for epoch in (2, 3):
        every = sampler().batches(epoch)
        mine = [list(r) for r in ranks]
        # 7 batches over 2 ranks: 3 steps each (DDP ranks must step in lockstep), the odd one is left out
        assert [len(m) for m in mine] == [len(r) for r in ranks] == [3, 3]
        assert mine[0] == every[0:6:2] and mine[1] == every[1:6:2]
        assert not {tuple(b) for b in mine[0]} & {tuple(b) for b in mine[1]}
    with pytest.raises(ValueError, match="cannot be split over 8 workers"):
        list(ShardedBatchSampler(sampler(), 0, 8))


@pytest.mark.slow
def test_ddp_trial_reports_each_epoch_checkpoints_full_dev_predictions_and_resumes(
    tmp_path, micro_backbone, small_data, monkeypatch
):
    # one injected failure after the first checkpoint: the retry must hand that checkpoint to new workers
    monkeypatch.setenv("STS_TUNE_FAIL_ONCE_DIR", str(tmp_path / "failures"))
    space = write_micro_space(tmp_path / "ddp.yaml", micro_backbone, small_data, batches=4)
    store = tmp_path / "store"
    rc = search.main([
        "--space", str(space), "--storage", str(store), "--name", "ddp", "--search-alg", "random",
        "--scheduler", "fifo", "--num-samples", "1", "--max-epochs", "2", "--workers-per-trial", "2",
        "--cpus-per-trial", "1", "--max-failures", "1",
        # 2 workers x 1 CPU + the coordinating trial's 0.01 CPU: more logical CPUs than this box's 2 cores
        "--num-cpus", "3", "--verbose", "0",
    ])
    assert rc == 0
    exp = store / "ddp"
    lb = pd.read_csv(exp / "leaderboard.csv")
    assert len(lb) == 1 and lb["status"].iloc[0] == "TERMINATED" and lb["epochs_run"].iloc[0] == 2
    assert len(list((tmp_path / "failures").glob("*.failed"))) == 1

    h = pd.read_csv(exp / "history.csv")
    assert h["epoch"].tolist() == [1.0, 2.0], h
    assert h[["val_pearson", "val_loss", "train_loss", "lr"]].notna().all().all()
    # the retry continued from the epoch-1 checkpoint instead of starting over
    assert h["restored_epoch"].tolist() == [0.0, 1.0]
    results = [json.loads(x) for x in (exp / lb["trial_id"].iloc[0] / "result.json").read_text().splitlines()]
    # 4 batches per epoch split over 2 ranks: 2 optimizer steps per epoch (one process would take 4)
    assert [r["global_step"] for r in results] == [2, 4]

    ckpt = Path(lb["checkpoint"].iloc[0])
    assert (ckpt / "weights.safetensors").is_file()
    meta = json.loads((ckpt / "meta.json").read_text())
    assert meta["val_pearson"] == pytest.approx(lb["val_pearson"].iloc[0])
    dev = pd.read_csv(ckpt / "dev_predictions.csv")
    dev_ids = json.loads((exp / "data.json").read_text())["dev_ids"]
    # validation ran over the whole dev set, not one rank's share
    assert dev["id"].tolist() == dev_ids and len(dev_ids) == 96 and dev["prediction"].notna().all()
    assert len(pd.read_csv(ckpt / "test_predictions.csv")) == 40
    # Train's own run folders are cleaned up; Tune's checkpoint is the only copy
    assert not list((exp / lb["trial_id"].iloc[0]).glob("ddp-*/checkpoint_*"))
