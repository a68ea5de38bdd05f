"""Every bad input stops first, in one line, with nothing written (issue 12, items 4-6): outputs and the search.

Each case runs a command's `main` as the command line does and checks the exit code, that stderr is exactly one
`error:` (or `warning:`) line without a traceback, and that nothing was written. No case starts Ray or trains:
where a regression could get that far, the step is replaced by one that fails the test at once.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from badkit import one_line, snapshot
from ensemble_synth import make_experiment

from ensemble import predict, select_cli
from trainables import preprocess
from trainables import train as train_cli
from trainables.paths import PROJECT_ROOT
from tune import search
from tune.reporting import page

PROC = "/proc/sts-tune-test"


pytestmark = pytest.mark.usefixtures("refuse_work")


@pytest.fixture
def readonly_dir(tmp_path: Path):
    """A read-only tmpfs (tests run as root, for whom a chmod'ed folder is still writable); skipped if unmountable."""
    target = tmp_path / "ro"
    target.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(target)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {proc.stderr.strip() or proc.returncode}")
    yield target
    subprocess.run(["umount", str(target)], check=False)


# --- output locations --------------------------------------------------------------------------------------
def _cli_argv(cli: str, out: str, data: dict[str, Path], tmp_path: Path) -> tuple[object, list[str]]:
    exp = tmp_path / "exp"
    if cli in ("select", "report") and not exp.exists():
        make_experiment(exp, members=3, n_dev=60, n_test=20)
    ens = tmp_path / "ensemble.json"
    ens.write_text(json.dumps({"members": [{"trial_id": "t", "checkpoint": str(tmp_path), "weight": 1.0}]}))
    return {
        "search": (search.main, ["--space", "tiny", "--storage", out]),
        "search-dry-run": (search.main, ["--space", "tiny", "--dry-run", "--storage", out]),
        "train": (train_cli.main, ["--space", "tiny", "--output", out]),
        "select": (select_cli.main, ["--experiment", str(exp), "--output", out]),
        "report": (page.main, ["--experiment", str(exp), "--output", f"{out}/report.html"]),
        "predict": (predict.main, ["--ensemble", str(ens), "--input", str(data["dev"]), "--output", f"{out}/p.csv"]),
        "preprocess": (preprocess.main, ["--input", str(data["dev"]), "--output", f"{out}/p.csv", "--steps", "emoji"]),
    }[cli]


CLIS = ("search", "search-dry-run", "train", "select", "report", "predict", "preprocess")


@pytest.mark.parametrize("cli", CLIS)
def test_an_output_under_proc_fails_first(cli, bad_data, tmp_path, capsys):
    main, argv = _cli_argv(cli, PROC, bad_data, tmp_path)
    before = snapshot(tmp_path)
    assert main(argv) == 2
    line = one_line(capsys)
    assert PROC in line and "cannot write in /proc" in line
    assert snapshot(tmp_path) == before and not Path(PROC).exists()


@pytest.mark.parametrize("cli", CLIS)
def test_a_file_where_a_folder_is_needed_fails_first(cli, bad_data, tmp_path, capsys):
    main, argv = _cli_argv(cli, f"{bad_data['file']}/sub", bad_data, tmp_path)
    before = snapshot(tmp_path)
    assert main(argv) == 2
    assert f"{bad_data['file']} is a file, not a folder" in one_line(capsys)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("cli", CLIS)
def test_a_read_only_folder_fails_first(cli, bad_data, tmp_path, readonly_dir, capsys):
    main, argv = _cli_argv(cli, str(readonly_dir / "out"), bad_data, tmp_path)
    assert main(argv) == 2
    assert "read-only file system" in one_line(capsys)
    assert list(readonly_dir.iterdir()) == []


@pytest.mark.parametrize("cli", ["search-dry-run", "train", "predict"])
def test_too_little_free_space_is_named(cli, bad_data, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STS_TUNE_MIN_FREE_MB", str(10**12))
    out = tmp_path / "out"
    main, argv = _cli_argv(cli, str(out), bad_data, tmp_path)
    assert main(argv) == 2
    line = one_line(capsys)
    assert " MB free on " in line and "only " in line
    assert not out.exists()


def test_search_by_path_fails_on_proc_storage_in_one_line(tmp_path):
    proc = subprocess.run([sys.executable, str(PROJECT_ROOT / "tune" / "search.py"), "--dry-run", "--storage", PROC],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: --storage /proc/sts-tune-test: ")


# --- the search's numbers and resources ------------------------------------------------------------------
@pytest.mark.parametrize("flags, expected", [
    (["--num-samples", "0"], "--num-samples 0: must be >= 1"),
    (["--max-epochs", "0"], "--max-epochs 0: must be >= 1"),
    (["--set", "max_epochs=0"], "--max-epochs 0: must be >= 1"),
    (["--reduction-factor", "0.5"], "--reduction-factor 0.5 must be > 1"),
    (["--reduction-factor", "1"], "--reduction-factor 1 must be > 1"),
    (["--grace-period", "0"], "--grace-period 0 must be > 0"),
    (["--grace-period", "4"], "--grace-period 4 must be <= --max-epochs 3"),
    (["--set", "batch_size=true"], "batch_size=True: expected an integer, not true/false"),
    (["--set", "lr=false"], "lr=False: expected a number, not true/false"),
    (["--max-concurrent", "-1"], "--max-concurrent -1: must be >= 0"),
    (["--workers-per-trial", "0"], "--workers-per-trial 0: must be >= 1"),
    (["--seed", "-3"], "--seed -3: must be >= 0"),
    (["--folds", "1"], "--folds 1: must be >= 2"),
    (["--folds", "3", "--set", "fold=0"], "--folds 3 sets fold=-1 but --set fold=0 says otherwise"),
    (["--name", "a/b"], "--name 'a/b': must be one folder name"),
    (["--name", ".."], "--name '..': must be one folder name"),
    (["--cpus-per-trial", "3", "--num-cpus", "2"], "--cpus-per-trial 3 needs 3 CPUs per trial but the local Ray "
                                                   "instance has 2"),
    (["--cpus-per-trial", "1", "--workers-per-trial", "3", "--num-cpus", "2"], "x 3 workers needs 3 CPUs"),
])
@pytest.mark.parametrize("dry", [True, False])
def test_out_of_range_numbers_are_errors_in_the_plan(flags, expected, dry, tmp_path, capsys):
    argv = ["--space", "tiny", "--storage", str(tmp_path / "store"), *flags, *(["--dry-run"] if dry else [])]
    assert search.main(argv) == 2
    assert expected in one_line(capsys)
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize("have, flags, needs", [
    (0, ["--gpus-per-trial", "1"], "needs 1 GPU(s) per trial but this machine has 0"),
    (1, ["--gpus-per-trial", "1", "--workers-per-trial", "2"], "x 2 workers needs 2 GPU(s) per trial but this "
                                                               "machine has 1"),
])
def test_dry_run_checks_that_the_requested_gpus_exist(have, flags, needs, tmp_path, monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.cuda, "device_count", lambda: have)
    assert search.main(["--space", "tiny", "--dry-run", "--storage", str(tmp_path / "s"), *flags]) == 2
    assert needs in one_line(capsys)


def test_dry_run_accepts_gpus_that_exist(tmp_path, monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert search.main(["--space", "tiny", "--dry-run", "--storage", str(tmp_path / "s"),
                        "--gpus-per-trial", "0.5"]) == 0
    assert capsys.readouterr().err == ""


def test_an_existing_experiment_is_refused_before_ray(tmp_path, capsys):
    (tmp_path / "s" / "x").mkdir(parents=True)
    (tmp_path / "s" / "x" / "data.json").write_text("{}")
    assert search.main(["--space", "tiny", "--storage", str(tmp_path / "s"), "--name", "x"]) == 2
    assert "already exists: pass --resume" in one_line(capsys)


def test_the_bundled_default_passes_the_dry_run_without_a_warning(tmp_path, capsys):
    assert search.main(["--space", "tiny", "--dry-run", "--storage", str(tmp_path / "s")]) == 0
    assert capsys.readouterr().err == ""
    assert not (tmp_path / "s").exists()
