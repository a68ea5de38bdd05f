"""Reused trial workers (tune/machine.py: `--reuse-workers`, on for CPU trials): two trials in one worker process
must not leak state (weights, optimizer, seed/RNG, token arrays) into each other."""

from __future__ import annotations

import json
from argparse import Namespace
from pathlib import Path

import pandas as pd
import pytest
from searchkit import write_micro_space

from tune import machine, search


def trial_pids(exp: Path) -> dict[str, set[int]]:
    """trial_id -> the worker pids in its Ray result.json (one line per report)."""
    out: dict[str, set[int]] = {}
    for f in exp.glob("*/result.json"):
        for line in f.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                out.setdefault(r["trial_id"], set()).add(int(r["pid"]))
    return out


@pytest.mark.slow
def test_second_trial_in_a_reused_worker_equals_the_same_trial_run_alone(tmp_path, micro_backbone, small_data):
    # two trials that differ in what a warm worker keeps (token arrays: max_length) and in what each builds
    # (head, learning rate); one CPU, so the second runs in the first one's worker process
    space = write_micro_space(
        tmp_path / "reuse.yaml", micro_backbone, small_data, test=False, batches=6, val_checks_per_epoch=2,
        search={"max_length": {"grid": [48, 96], "default": 96},
                "head": {"choice": ["mean"], "default": "mean"}},
    )
    common = ["--space", str(space), "--storage", str(tmp_path / "store"), "--num-cpus", "1", "--verbose", "0",
              "--scheduler", "fifo", "--search-alg", "grid", "--max-epochs", "2"]
    assert search.main([*common, "--name", "pair", "--reuse-workers", "on"]) == 0
    assert search.main([*common, "--name", "alone", "--reuse-workers", "off", "--set", "max_length=96"]) == 0
    pair, alone = tmp_path / "store" / "pair", tmp_path / "store" / "alone"

    pids = trial_pids(pair)
    assert len(pids) == 2 and all(len(p) == 1 for p in pids.values())
    assert len(set.union(*pids.values())) == 1, f"the two trials ran in different workers: {pids}"
    lb = pd.read_csv(pair / "leaderboard.csv")
    assert sorted(lb["config/max_length"]) == [48, 96]
    # which ran second does not matter: each must equal itself run alone; run the 96 one alone
    h_pair, h_alone = pd.read_csv(pair / "history.csv"), pd.read_csv(alone / "history.csv")
    second = lb.loc[lb["config/max_length"] == 96, "trial_id"].iloc[0]
    got = h_pair[h_pair["trial_id"] == second].sort_values("epoch")
    want = h_alone.sort_values("epoch")
    assert got["epoch"].tolist() == want["epoch"].tolist() == [0.5, 1.0, 1.5, 2.0]
    for col in ("val_pearson", "val_loss", "train_loss"):
        assert got[col].tolist() == pytest.approx(want[col].tolist(), rel=1e-6, abs=1e-7), col


def test_workers_are_reused_for_cpu_trials_only_unless_asked():
    def ns(**kw) -> Namespace:
        return Namespace(**{"reuse_workers": "auto", "gpus_per_trial": 0.0, "workers_per_trial": 1, **kw})

    assert machine.reuse_workers(ns())
    assert not machine.reuse_workers(ns(gpus_per_trial=0.5))  # CUDA memory comes back only with the process
    assert not machine.reuse_workers(ns(workers_per_trial=2))
    assert machine.reuse_workers(ns(gpus_per_trial=1.0, reuse_workers="on"))
    assert not machine.reuse_workers(ns(reuse_workers="off"))
