"""The search's closing lines (tune/closing.py): exact next commands, never wider than the terminal budget."""

from __future__ import annotations

import pandas as pd

from tune.closing import next_commands, print_closing
from tune.terminal import MAX_WIDTH


def test_next_commands_name_the_experiment_and_fit_the_width():
    lines = next_commands("/runs/e5")
    assert lines[:3] == ["python ensemble/select.py --experiment /runs/e5",
                         "python tune/report.py --experiment /runs/e5", "tensorboard --logdir /runs/e5"]


def test_a_long_path_is_set_once_as_a_shell_variable():
    exp = "/very/long/storage/" + "x" * 150 + "/with space"
    lines = next_commands(exp)
    assert lines[0] == f"EXP='{exp}'"
    assert lines[1] == 'python ensemble/select.py --experiment "$EXP"'
    assert all(len(line) <= MAX_WIDTH for line in lines[1:])


def test_closing_lines_fit_and_an_interrupted_search_gets_no_next_commands(capsys):
    board = pd.DataFrame({"rank": [1], "trial_id": ["a"], "val_pearson": [0.8], "test_pearson": [0.7],
                          "best_epoch": [1.0], "epochs_run": [1.0], "status": ["TERMINATED"],
                          **{f"config/k{i}": [f"value-{i}-" + "v" * 30] for i in range(10)}})
    board = pd.concat([board, board.assign(trial_id="b", **{f"config/k{i}": ["other"] for i in range(10)})])
    summary = {"best_trial_id": "a", "best_val_pearson": 0.8, "best_test_pearson": 0.7, "total_epochs": 2.0,
               "num_trials": 2, "wall_seconds": 12.0}
    print_closing("/runs/x", board, summary, {})
    out = capsys.readouterr().out.splitlines()
    assert all(len(line) <= MAX_WIDTH for line in out)
    assert "best trial a: val_pearson 0.8000, test_pearson 0.7000" in "\n".join(out)
    assert any(line.strip() == "python ensemble/select.py --experiment /runs/x" for line in out)
    print_closing("/runs/x", board, summary, {}, next_steps=False)
    assert "ensemble/select.py" not in capsys.readouterr().out


def test_a_long_command_is_wrapped_so_that_it_still_runs_when_pasted():
    import shlex
    import subprocess

    from tune.terminal import shell_lines

    command = shlex.join(["python", "tune/search.py", "--storage", "/s/" + "d" * 120, "--name", "a b", "--resume"])
    text = shell_lines(command)
    assert len(text.splitlines()) > 1 and all(len(line) <= MAX_WIDTH for line in text.splitlines())
    echoed = subprocess.run(["bash", "-c", "printf '%s\\n' " + text.split(" ", 1)[1]], capture_output=True,
                            text=True, check=True).stdout.splitlines()
    assert echoed == shlex.split(command)[1:]
