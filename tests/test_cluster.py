"""Searches on a real multi-node Ray cluster on this machine (`ray.cluster_utils.Cluster`).

Each node is a separate raylet with its own logical resources; trials report the id of the node they ran on
(`node_id` in result.json), which is how placement is checked. The head offers no CPUs (like cluster.yaml's
head), so every trial runs on a worker node. The storage is a local folder that all nodes of this machine
share, hence `--storage-is-shared`.

Not marked slow on purpose: the release check runs every test file that builds a `Cluster` with plain
`pytest -q -x FILE`, where the default `-m 'not slow'` would deselect them all. So they run in the normal
test step and are kept to under a minute each on 2 cores (micro model, few trials, fifo scheduler).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import ray
from ray.cluster_utils import Cluster
from searchkit import write_micro_space

from trainables.paths import PROJECT_ROOT
from tune import search

# Ray's own cluster tests use these: a removed node is declared dead within seconds instead of ~30 s.
FAST_HEALTH_CHECKS = {"health_check_initial_delay_ms": 0, "health_check_period_ms": 1000,
                      "health_check_failure_threshold": 5}


@pytest.fixture
def make_cluster() -> Iterator[Callable[..., Cluster]]:
    """A fresh cluster per test: head (+ workers), the test process connected to it; torn down afterwards."""
    made: list[Cluster] = []

    def make(head: dict[str, Any], workers: list[dict[str, Any]] = ()) -> Cluster:
        # search.run() reuses an open connection: never let it be one to some other cluster
        assert not ray.is_initialized(), "a Ray connection is already open"
        cluster = Cluster(initialize_head=True, connect=False, head_node_args={
            "include_dashboard": False, "_system_config": FAST_HEALTH_CHECKS, **head})
        made.append(cluster)
        for spec in workers:
            cluster.add_node(**spec)
        cluster.wait_for_nodes()
        cluster.connect()
        return cluster

    yield make
    ray.shutdown()
    for cluster in made:
        cluster.shutdown()


def run_search(cluster: Cluster, store: Path, space: Path, *args: str, name: str = "exp") -> Path:
    rc = search.main([
        "--space", str(space), "--storage", str(store), "--name", name, "--address", cluster.address,
        "--storage-is-shared", "--search-alg", "random", "--scheduler", "fifo", "--cpus-per-trial", "1",
        "--verbose", "0", *args,
    ])
    assert rc == 0
    return store / name


def trial_results(exp: Path) -> dict[str, list[dict[str, Any]]]:
    """Every trial's reported results so far (result.json), tolerating a line that is being written."""
    out: dict[str, list[dict[str, Any]]] = {}
    for path in exp.glob("*/result.json"):
        rows = []
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                break
        out[path.parent.name] = rows
    return out


def worker_ids(cluster: Cluster) -> set[str]:
    return {node.node_id for node in cluster.worker_nodes}


def test_trials_are_spread_over_the_worker_nodes(make_cluster, tmp_path, micro_backbone, small_data):
    cluster = make_cluster({"num_cpus": 0}, [{"num_cpus": 1}, {"num_cpus": 1}])
    space = write_micro_space(tmp_path / "spread.yaml", micro_backbone, small_data, test=False)
    # a head-local path is refused on a multi-node cluster unless declared shared
    refused = search.main(["--space", str(space), "--storage", str(tmp_path / "store"), "--name", "nope",
                           "--address", cluster.address, "--verbose", "0"])
    assert refused == 2 and not (tmp_path / "store" / "nope" / "leaderboard.csv").exists()

    # a reused worker keeps taking trials on its node when one finishes before the other starts: placement is
    # what this test is about, so each trial gets a fresh worker
    exp = run_search(cluster, tmp_path / "store", space, "--num-samples", "2", "--max-epochs", "1",
                     "--reuse-workers", "off")
    lb = pd.read_csv(exp / "leaderboard.csv")
    assert len(lb) == 2 and (lb["status"] == "TERMINATED").all()
    used = {r["node_id"] for rows in trial_results(exp).values() for r in rows}
    # one CPU per worker node: the two trials ran side by side, one on each node, none on the head
    assert used == worker_ids(cluster), (used, worker_ids(cluster))


def test_a_lost_node_fails_its_trial_which_resumes_from_its_checkpoint_elsewhere(
    make_cluster, tmp_path, micro_backbone, small_data
):
    cluster = make_cluster({"num_cpus": 0}, [{"num_cpus": 1}] * 3)
    nodes = {node.node_id: node for node in cluster.worker_nodes}
    epochs = 5
    space = write_micro_space(tmp_path / "lost.yaml", micro_backbone, small_data, test=False, batches=6)
    exp = tmp_path / "store" / "exp"
    lost: dict[str, Any] = {}

    def lose_the_node_of_a_checkpointed_trial() -> None:
        deadline = time.time() + 240
        while time.time() < deadline:
            for trial_id, rows in trial_results(exp).items():
                # epoch 1 always improves on nothing, so its report came with a checkpoint
                if rows and rows[0]["epoch"] == 1.0 and len(rows) < epochs:
                    pid = rows[0]["pid"]
                    try:
                        # freeze the trial first: micro epochs are fast, it must not finish before its node is gone
                        os.kill(pid, signal.SIGSTOP)
                    except ProcessLookupError:
                        continue
                    lost.update(trial=trial_id, node=rows[0]["node_id"])
                    cluster.remove_node(nodes[lost["node"]], allow_graceful=False)
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)  # what the node's loss does to its processes
                    return
            time.sleep(0.05)

    watcher = threading.Thread(target=lose_the_node_of_a_checkpointed_trial, daemon=True)
    watcher.start()
    run_search(cluster, tmp_path / "store", space, "--num-samples", "3", "--max-epochs", str(epochs),
               "--max-failures", "2")
    watcher.join(timeout=5)
    assert lost, "no trial reached a checkpoint while its node could be removed"

    lb = pd.read_csv(exp / "leaderboard.csv")
    assert len(lb) == 3 and (lb["status"] == "TERMINATED").all() and (lb["epochs_run"] == epochs).all(), lb
    rows = trial_results(exp)[lost["trial"]]
    before = [r for r in rows if r["restored_epoch"] == 0]
    after = [r for r in rows if r["restored_epoch"] > 0]
    assert before and all(r["node_id"] == lost["node"] for r in before)
    assert after, f"trial {lost['trial']} was not retried from its checkpoint: {rows}"
    # the retry ran on a surviving node and continued the epoch count from its checkpoint (not from 0)
    assert all(r["node_id"] != lost["node"] for r in after)
    assert after[0]["restored_epoch"] >= 1.0 and all(r["epoch"] > r["restored_epoch"] for r in after)
    assert after[-1]["epoch"] == epochs
    h = pd.read_csv(exp / "history.csv")
    assert set(h["trial_id"]) == set(lb["trial_id"])


def test_killed_driver_resumes_against_the_same_cluster(make_cluster, tmp_path, micro_backbone, small_data):
    cluster = make_cluster({"num_cpus": 0}, [{"num_cpus": 1}, {"num_cpus": 1}])
    space = write_micro_space(tmp_path / "kill.yaml", micro_backbone, small_data, test=False, batches=6)
    store = tmp_path / "store"
    exp = store / "k"
    cmd = [sys.executable, str(PROJECT_ROOT / "tune" / "search.py"), "--space", str(space), "--storage", str(store),
           "--name", "k", "--address", cluster.address, "--storage-is-shared", "--search-alg", "random",
           "--scheduler", "fifo", "--num-samples", "4", "--max-epochs", "2", "--cpus-per-trial", "1",
           "--verbose", "0", "--reuse-workers", "off"]  # warm workers finish the rest before the kill
    with open(tmp_path / "first.log", "w") as log:
        driver = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        finished: dict[str, int] = {}
        deadline = time.time() + 240
        while time.time() < deadline and driver.poll() is None and not finished:
            finished = {t: len(rows) for t, rows in trial_results(exp).items() if rows and rows[-1]["epoch"] == 2.0}
            time.sleep(0.5)
        running = driver.poll() is None
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
    assert finished and running, f"no trial finished before the kill: {(tmp_path / 'first.log').read_text()[-3000:]}"
    assert len(finished) < 4 and not (exp / "leaderboard.csv").exists()

    rc = search.main(["--space", str(space), "--storage", str(store), "--name", "k", "--resume",
                      "--address", cluster.address, "--storage-is-shared", "--cpus-per-trial", "1", "--verbose", "0"])
    assert rc == 0
    lb = pd.read_csv(exp / "leaderboard.csv")
    assert len(lb) == 4 and (lb["status"] == "TERMINATED").all() and (lb["epochs_run"] == 2).all(), lb
    results = trial_results(exp)
    for trial_id, reports in finished.items():
        # finished before the kill, so not run again after the resume
        assert len(results[trial_id]) == reports == 2
    assert {r["node_id"] for rows in results.values() for r in rows} <= worker_ids(cluster)


def test_quarter_gpus_put_four_trials_on_one_gpu_at_once(make_cluster, tmp_path, micro_backbone, small_data):
    # one node, 1 logical GPU and 4 logical CPUs (more than the machine has: Ray only counts them)
    cluster = make_cluster({"num_cpus": 4, "num_gpus": 1})
    # 20 batches a trial: long enough that the four workers, which start one after another on two real cores,
    # overlap (with 6 a trial could finish before the fourth had started)
    space = write_micro_space(tmp_path / "gpu.yaml", micro_backbone, small_data, test=False, batches=20)
    free: list[tuple[float, float]] = []
    done = threading.Event()

    def sample_free_resources() -> None:
        while not done.wait(0.2):
            available = ray.available_resources()  # a resource with nothing left is absent
            free.append((available.get("CPU", 0.0), available.get("GPU", 0.0)))

    sampler = threading.Thread(target=sample_free_resources, daemon=True)
    sampler.start()
    try:
        exp = run_search(cluster, tmp_path / "store", space, "--num-samples", "4", "--max-epochs", "2",
                         "--gpus-per-trial", "0.25")
    finally:
        done.set()
        sampler.join(timeout=5)
    lb = pd.read_csv(exp / "leaderboard.csv")
    assert len(lb) == 4 and (lb["status"] == "TERMINATED").all()
    # Ray's accounting: at some moment four trials held a CPU each and, between them, the only GPU
    # (with whole-GPU requests a single trial would have fit, leaving 3 CPUs free)
    assert (0.0, 0.0) in free, free
    results = trial_results(exp)
    assert {r["node_id"] for rows in results.values() for r in rows} == {cluster.head_node.node_id}
    # and the trials really ran at the same time: every one started before any one finished
    starts = [rows[0]["timestamp"] - rows[0]["time_total_s"] for rows in results.values()]
    # Ray's `timestamp` is whole seconds (floored): a trial ended before timestamp + 1
    ends = [rows[-1]["timestamp"] + 1 for rows in results.values()]
    assert max(starts) < min(ends), (starts, ends)
