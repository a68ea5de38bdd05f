from __future__ import annotations

import os

import pytest
import yaml
from searchkit import write_micro_space

from trainables.config import ConfigError
from tune import machine, search


def test_cgroup_quota_v2_v1_and_none(tmp_path):
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cpu.max").write_text("150000 100000\n")
    assert machine.cgroup_cpu_quota(v2) == 1.5
    (v2 / "cpu.max").write_text("max 100000\n")
    assert machine.cgroup_cpu_quota(v2) is None
    v1 = tmp_path / "v1" / "cpu"
    v1.mkdir(parents=True)
    (v1 / "cpu.cfs_quota_us").write_text("300000")
    (v1 / "cpu.cfs_period_us").write_text("100000")
    assert machine.cgroup_cpu_quota(tmp_path / "v1") == 3.0
    (v1 / "cpu.cfs_quota_us").write_text("-1")
    assert machine.cgroup_cpu_quota(tmp_path / "v1") is None
    assert machine.cgroup_cpu_quota(tmp_path / "nothing") is None


def test_usable_cpus_follow_the_affinity_mask():
    n = machine.usable_cpus()
    assert 1 <= n <= len(os.sched_getaffinity(0))


@pytest.mark.parametrize(("cores", "samples", "pref", "want"), [
    (2, 8, None, 1.0),  # two one-thread trials on 2 cores
    (16, 8, None, 2.0),  # 8 trials at once, the cores shared out
    (64, 4, None, 4.0),  # at most MAX_AUTO_THREADS each
    (16, 1, None, 4.0),
    (1, 8, 2.0, 1.0),  # a space's 2 threads clipped to a 1-core machine, or the trial could never start
    (8, 8, 2.0, 2.0),
])
def test_default_cpus_per_trial(cores, samples, pref, want):
    assert machine.default_cpus_per_trial(cores, samples, pref) == want


def plan_for(tmp_path, micro_backbone, small_data, *argv, cpus_per_trial=None):
    space = write_micro_space(tmp_path / "m.yaml", micro_backbone, small_data)
    if cpus_per_trial is not None:
        doc = yaml.safe_load(space.read_text())
        doc["scheduler"]["cpus_per_trial"] = cpus_per_trial
        space.write_text(yaml.safe_dump(doc))
    args = search.build_parser().parse_args(["--space", str(space), "--storage", str(tmp_path / "s"), *argv])
    return args, search.plan(args)


def test_unset_flags_come_from_the_machine_and_given_ones_win(tmp_path, micro_backbone, small_data):
    args, _ = plan_for(tmp_path, micro_backbone, small_data)
    assert args.num_cpus == machine.usable_cpus()
    assert args.cpus_per_trial == machine.default_cpus_per_trial(args.num_cpus, 4, None)

    args, _ = plan_for(tmp_path, micro_backbone, small_data, "--num-cpus", "1", cpus_per_trial=2)
    assert (args.num_cpus, args.cpus_per_trial) == (1, 1.0)
    args, _ = plan_for(tmp_path, micro_backbone, small_data, "--num-cpus", "8", "--num-samples", "2")
    assert args.cpus_per_trial == 4.0
    args, _ = plan_for(tmp_path, micro_backbone, small_data, "--num-cpus", "8", "--cpus-per-trial", "3")
    assert args.cpus_per_trial == 3.0
    # a cluster's nodes are unknown before joining it: the space's value (else 1), no local CPU count
    args, _ = plan_for(tmp_path, micro_backbone, small_data, "--address", "auto", cpus_per_trial=2)
    assert (args.num_cpus, args.cpus_per_trial) == (None, 2.0)
    with pytest.raises(ConfigError, match="--cpus-per-trial"):
        plan_for(tmp_path, micro_backbone, small_data, "--cpus-per-trial", "0")
