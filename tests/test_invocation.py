"""A resume repeats the first run's settings (tune/invocation.py): changes are refused in one line, flags that
only say where or how fast to run may differ, and a finished experiment is left as it is."""

from __future__ import annotations

import json

import pytest
from searchkit import write_micro_space

from tune import faults, invocation, search


def _start(tmp_path, space, *extra: str) -> tuple[list[str], str]:
    """Record an experiment's invocation as a fresh search does, without running its trials."""
    argv = ["--space", str(space), "--storage", str(tmp_path / "store"), "--name", "e", "--num-samples", "4",
            "--max-epochs", "2", "--set", "limit_train_batches=3", *extra]
    args = search.build_parser().parse_args(argv)
    p = search.plan(args)
    invocation.write(p.experiment, faults.check_invocation(p, args, argv))
    return argv, p.experiment


@pytest.mark.parametrize("change, named", [
    (["--set", "lr=0.5"], "--set lr: 0.5 now, unset when the experiment started"),
    (["--set", "limit_train_batches=4"], "--set limit_train_batches: 4 now, 3 when"),
    (["--num-samples", "5"], "--num-samples: 5 now, 4 when"),
    (["--search-alg", "random"], "--search-alg: random now, optuna when"),
    (["--scheduler", "fifo"], "--scheduler: fifo now, asha when"),
])
def test_a_resume_with_changed_settings_is_refused_in_one_line(tmp_path, micro_backbone, small_data, capsys,
                                                                change, named):
    space = write_micro_space(tmp_path / "m.yaml", micro_backbone, small_data)
    argv, _exp = _start(tmp_path, space)
    rc = search.main([*argv, *change, "--resume"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert named in err
    assert "resume with the same arguments (python tune/search.py" in err


def test_a_changed_space_file_is_refused(tmp_path, micro_backbone, small_data, capsys):
    space = write_micro_space(tmp_path / "m.yaml", micro_backbone, small_data)
    argv, _ = _start(tmp_path, space)
    write_micro_space(tmp_path / "m.yaml", micro_backbone, small_data, batches=7)
    assert search.main([*argv, "--resume"]) == 2
    assert "the space file" in capsys.readouterr().err


def test_flags_that_say_where_and_how_fast_may_change(tmp_path, micro_backbone, small_data):
    space = write_micro_space(tmp_path / "m.yaml", micro_backbone, small_data)
    argv, exp = _start(tmp_path, space)
    again = [*argv, "--max-concurrent", "1", "--num-cpus", "1", "--verbose", "0", "--address", "auto", "--resume"]
    args = search.build_parser().parse_args(again)
    assert faults.check_invocation(search.plan(args), args, again)["resume_command"]
    assert invocation.read(exp)["argv"] == argv  # the first run's record is kept


def test_resuming_a_finished_experiment_changes_nothing(tmp_path, micro_backbone, small_data, capsys):
    space = write_micro_space(tmp_path / "m.yaml", micro_backbone, small_data)
    argv, _exp = _start(tmp_path, space)
    summary = tmp_path / "store" / "e" / "summary.json"
    summary.write_text(json.dumps({"state": "finished", "num_trials": 4, "best_val_pearson": 0.5,
                                   "best_trial_id": "t1", "wall_seconds": 40.5}))
    before = summary.read_bytes()
    assert search.main([*argv, "--resume"]) == 0
    assert "already finished (4 trials" in capsys.readouterr().out
    assert summary.read_bytes() == before


def test_the_resume_command_repeats_the_arguments(tmp_path):
    cmd = invocation.resume_command(["--space", "tiny", "--set", "note=a b", "--resume"])
    assert cmd == "python tune/search.py --space tiny --set 'note=a b' --resume"


def test_a_bare_resume_takes_the_first_runs_settings(tmp_path, micro_backbone, small_data, capsys):
    space = write_micro_space(tmp_path / "m.yaml", micro_backbone, small_data)
    _start(tmp_path, space, "--search-alg", "random")
    bare = ["--storage", str(tmp_path / "store"), "--name", "e", "--resume", "--max-concurrent", "2"]
    args = faults.inherit(search.build_parser().parse_args(bare), bare, search.build_parser)
    assert (args.space, args.num_samples, args.max_epochs, args.search_alg, args.overrides, args.max_concurrent) == (
        str(space), 4, 2, "random", ["limit_train_batches=3"], 2)
    # and the check passes on what it resolved to; a flag given now still has to agree
    assert faults.check_invocation(search.plan(args), args, bare)
    assert search.main([*bare, "--scheduler", "fifo"]) == 2
    assert "--scheduler: fifo now, asha when" in capsys.readouterr().err
