"""Every bad input stops first, in one line, with nothing written (issue 12, items 4 and 6): the data.

Train/dev/test leakage by content, constant dev labels, sets too small to measure anything, files without ids,
tab-separated files passed as CSV, and preprocess.py validating its input as the trainer does. Each case
runs a command's `main` and checks the exit code, the one stderr line (no traceback), and that nothing was
written; no case trains or starts Ray (tests/badkit.refuse_work).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from badkit import one_line, snapshot
from ensemble_synth import make_experiment

from ensemble import predict, select_cli
from trainables import preprocess
from trainables import train as train_cli
from trainables.data import DataError, load_splits
from tune import search

pytestmark = pytest.mark.usefixtures("refuse_work")


def _search(tmp_path: Path, train: Path, dev: Path, *extra: str) -> int:
    return search.main(["--space", "tiny", "--dry-run", "--storage", str(tmp_path / "store"),
                        "--set", f"train_path={train}", "--set", f"dev_path={dev}", *extra])


def _train(tmp_path: Path, train: Path, dev: Path, *extra: str) -> int:
    return train_cli.main(["--space", "tiny", "--output", str(tmp_path / "out"),
                           "--set", f"train_path={train}", "--set", f"dev_path={dev}", *extra])


@pytest.fixture(params=["search", "train"])
def command(request):
    return {"search": _search, "train": _train}[request.param]


# --- overlap between train and dev/test ---------------------------------------------------------------------
@pytest.mark.parametrize("dev", ["train", "renumbered"])
def test_a_copy_of_train_as_dev_is_an_error(command, dev, bad_data, tmp_path, capsys):
    assert command(tmp_path, bad_data["train"], bad_data[dev]) == 2
    line = one_line(capsys)
    assert line.startswith(f"error: {bad_data[dev]}: all 150 dev pairs also appear in {bad_data['train']}")
    assert "allow_overlap=true" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_a_copy_of_train_as_test_is_an_error(bad_data, tmp_path, capsys):
    assert _search(tmp_path, bad_data["train"], bad_data["dev"], "--set", f"test_path={bad_data['train']}") == 2
    assert "all 150 test pairs also appear in" in one_line(capsys)


def test_partial_overlap_warns_in_one_line_and_can_be_accepted(bad_data, tmp_path, capsys):
    assert _search(tmp_path, bad_data["train"], bad_data["partdev"]) == 0
    line = one_line(capsys, "warning: ")
    assert "10 of 50 dev pairs (20.0%) also appear in" in line and "dev id 'd40' = train id 'r0'" in line
    assert _search(tmp_path, bad_data["train"], bad_data["partdev"], "--set", "allow_overlap=true") == 0
    assert capsys.readouterr().err == ""
    assert not (tmp_path / "store").exists()


def test_ids_alike_but_pairs_different_is_not_leakage(bad_data, tmp_path, capsys):
    """KLUE-CSV ids come from the file name: a dev file named like a train file gets train-like ids."""
    assert _search(tmp_path, bad_data["klue_train"], bad_data["klue_dev"]) == 0
    assert capsys.readouterr().err == ""
    splits = load_splits(str(bad_data["klue_train"]), str(bad_data["klue_dev"]))
    assert set(splits.train["id"]) & set(splits.dev["id"])  # the ids do collide
    assert splits.warnings == ()


def test_the_bundled_split_shares_no_pair_and_warns_nothing():
    from trainables.datachecks import shared_pairs

    splits = load_splits()
    assert splits.warnings == ()
    assert shared_pairs(splits.train, splits.dev) == []
    assert shared_pairs(splits.train, splits.test) == []


# --- labels and sizes ------------------------------------------------------------------------------------------
def test_constant_dev_labels_are_an_error_naming_the_file(command, bad_data, tmp_path, capsys):
    assert command(tmp_path, bad_data["train"], bad_data["constdev"]) == 2
    line = one_line(capsys)
    assert line.startswith(f"error: {bad_data['constdev']}: column label: every dev label is 2; Pearson")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_a_train_set_smaller_than_one_batch_is_an_error(command, bad_data, tmp_path, capsys):
    assert command(tmp_path, bad_data["train3"], bad_data["dev"]) == 2
    assert "3 training rows, fewer than one batch (batch_size=32)" in one_line(capsys)


def test_the_search_checks_the_largest_batch_size_a_trial_can_sample(bad_data, tmp_path, capsys):
    train20 = tmp_path / "train20.csv"
    pd.read_csv(bad_data["train"]).head(20).to_csv(train20, index=False)
    assert _search(tmp_path, train20, bad_data["dev"]) == 2  # tiny samples batch_size from [16, 32]
    assert "20 training rows, fewer than one batch (batch_size=32)" in one_line(capsys)
    assert _search(tmp_path, train20, bad_data["dev"], "--set", "batch_size=16") == 0


def test_a_dev_set_under_ten_rows_is_an_error(command, bad_data, tmp_path, capsys):
    assert command(tmp_path, bad_data["train"], bad_data["dev2"]) == 2
    assert f"{bad_data['dev2']}: 2 dev rows" in one_line(capsys)


def test_kfold_pools_dev_into_train_so_its_own_checks_do_not_apply(bad_data):
    splits = load_splits(str(bad_data["train"]), str(bad_data["dev2"]), num_folds=5, batch_size=32)
    assert len(splits.dev) == 2
    with pytest.raises(DataError, match="fewer than one batch"):
        load_splits(str(bad_data["train3"]), str(bad_data["dev2"]), num_folds=2, batch_size=32)


# --- file formats ---------------------------------------------------------------------------------------------
def test_a_tab_separated_file_passed_as_csv_is_named(command, bad_data, tmp_path, capsys):
    assert command(tmp_path, bad_data["tsv"], bad_data["dev"]) == 2
    line = one_line(capsys)
    assert "tab-separated" in line and "data_format=korsts" in line and "cannot tell the format" not in line


def test_a_tab_separated_file_with_a_named_csv_format_is_named(bad_data, tmp_path, capsys):
    assert _search(tmp_path, bad_data["train"], bad_data["dev"], "--set", "data_format=competition",
                   "--set", f"test_path={bad_data['tsv']}") == 2
    assert f"{bad_data['tsv']}: the file is tab-separated" in one_line(capsys)


# --- predict.py: ids ------------------------------------------------------------------------------------------
def test_predict_needs_ids_unless_told_to_number_rows(bad_data, tmp_path, capsys):
    ens = tmp_path / "ensemble.json"
    ens.write_text(json.dumps({"members": [{"trial_id": "t", "checkpoint": str(tmp_path / "ck"), "weight": 1}]}))
    noid = tmp_path / "new.csv"
    pd.read_csv(bad_data["klue_dev"])[["sentence1", "sentence2"]].to_csv(noid, index=False)
    out = tmp_path / "out" / "p.csv"
    argv = ["--ensemble", str(ens), "--input", str(noid), "--output", str(out)]
    assert predict.main(argv) == 2
    line = one_line(capsys)
    assert f"{noid}: no id column" in line and "--number-rows" in line
    assert not out.parent.exists()
    # told to number rows, the input is accepted and the run gets as far as the members (refused here)
    with pytest.raises(AssertionError, match="got past the checks"):
        predict.main([*argv, "--number-rows"])


# --- preprocess.py validates like the trainer -------------------------------------------------------------
HEAD = "id,source,sentence_1,sentence_2\n"


@pytest.mark.parametrize("content, expected", [
    (HEAD, "no data rows below the header"),
    (HEAD + "a,s,,나\n", "row 2, column sentence_1: sentence is empty"),
    (HEAD + "a,s,가,나\nb,s,다,   \n", "row 3, column sentence_2: sentence is empty"),
    (HEAD + ",s,가,나\n", "row 2, column id: id is empty"),
    (HEAD + "a,s,가,나\na,s,다,라\n", "row 3, column id: duplicate id 'a'"),
    ("sentence_1,sentence_2\n가,\n", "row 2, column sentence_2: sentence is empty"),
    (HEAD.encode() + "a,s,가나,다라\n".encode("cp949"), "row 2: bytes at offset"),
    (HEAD.replace(",", "\t") + "a\ts\t가, 나\t다\n", "tab-separated"),
    ("", "the file is empty"),
])
def test_preprocess_validates_its_input(content, expected, tmp_path, capsys):
    src, out = tmp_path / "in.csv", tmp_path / "out" / "pre.csv"
    src.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert preprocess.main(["--input", str(src), "--output", str(out), "--steps", "emoji"]) == 2
    line = one_line(capsys)
    assert line.startswith(f"error: input file {src}: ") and expected in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


# --- select.py: constant members and labels --------------------------------------------------------------------
def test_select_skips_a_constant_member_with_a_note(tmp_path, capsys):
    rng = np.random.default_rng(0)
    labels_like = rng.uniform(0, 5, 60)
    preds = np.vstack([labels_like + rng.normal(0, 1, 60), np.full(60, 2.5), labels_like + rng.normal(0, 1, 60)])
    synth = make_experiment(tmp_path / "exp", members=3, n_dev=60, n_test=20, dev_preds=preds)
    out = tmp_path / "ens"
    assert select_cli.main(["--experiment", str(synth.root), "--output", str(out), "--holdout-repeats", "3",
                            "--trials", "20"]) == 0
    captured = capsys.readouterr()
    notes = [ln for ln in captured.out.splitlines() if "predictions are constant" in ln]
    assert notes == ["note: skipped 1 trial(s) whose dev predictions are constant (Pearson undefined): trial_001"]
    report = json.loads((out / "ensemble.json").read_text())
    assert "trial_001" not in report["weights"] and "trial_001" in report["skipped_trials"]
    assert np.isfinite(report["dev_pearson"])


def test_select_refuses_constant_dev_labels(tmp_path, capsys):
    synth = make_experiment(tmp_path / "exp", members=3, n_dev=60, n_test=20)
    for trial in synth.trial_ids:
        path = synth.checkpoint(trial) / "dev_predictions.csv"
        pd.read_csv(path).assign(label=3.0).to_csv(path, index=False)
    before = snapshot(tmp_path)
    assert select_cli.main(["--experiment", str(synth.root), "--output", str(tmp_path / "ens")]) == 2
    assert "every dev label of the experiment is 3: Pearson is undefined" in one_line(capsys)
    assert snapshot(tmp_path) == before


def test_select_refuses_when_every_member_is_constant(tmp_path, capsys):
    synth = make_experiment(tmp_path / "exp", members=2, n_dev=60, n_test=None, dev_preds=np.full((2, 60), 1.0))
    assert select_cli.main(["--experiment", str(synth.root), "--output", str(tmp_path / "ens")]) == 2
    assert "all 2 candidate(s) predict one constant value on dev" in one_line(capsys)
    assert not (tmp_path / "ens").exists()
