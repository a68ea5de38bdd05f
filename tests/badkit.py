"""Shared by the bad-input tests (tests/test_bad_inputs.py, tests/test_bad_data.py): the one-line check, a
folder snapshot, small data files with one defect each, and a guard that no check lets a case reach real work."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ensemble import predict
from trainables import preprocess
from trainables.paths import KLUE_TRAIN
from tune import search


def one_line(capsys: pytest.CaptureFixture[str], prefix: str = "error: ") -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(prefix) and "Traceback" not in err, err
    return lines[0]


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))}


def refuse_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """A check that lets a bad input through must not start a search or a training run on this machine."""

    def refuse(*args, **kwargs):
        raise AssertionError("a bad input got past the checks into real work")

    monkeypatch.setattr(search, "pretokenize", refuse)
    monkeypatch.setattr(search, "run", refuse)
    monkeypatch.setattr("trainables.tokens.TokenCache.get_or_encode", refuse)  # train.py: data read, not encoded
    monkeypatch.setattr("trainables.training.train", refuse)
    monkeypatch.setattr(predict, "predict_table", refuse)
    monkeypatch.setattr(preprocess, "preprocess_table", refuse)


def make_data(d: Path) -> dict[str, Path]:
    """Competition CSVs from the bundled KLUE-STS train: 150 train, 50 dev rows, and variations of them."""
    d.mkdir(parents=True)
    t = pd.read_csv(KLUE_TRAIN).head(200)
    comp = pd.DataFrame({"id": [f"r{i}" for i in range(200)], "source": "s", "sentence_1": t["sentence1"],
                         "sentence_2": t["sentence2"], "label": t["label"].round(1)})
    files = {"train": comp.iloc[:150], "dev": comp.iloc[150:], "train3": comp.iloc[:3], "dev2": comp.iloc[150:152]}
    renumbered = comp.iloc[:150].assign(id=[f"x{i}" for i in range(150)])
    renumbered["sentence_1"] = renumbered["sentence_1"].str.replace(" ", "  ")  # whitespace does not hide a copy
    files["renumbered"] = renumbered
    files["constdev"] = comp.iloc[150:].assign(label=2.0)
    # 10 of 50 dev pairs are train pairs, sentences swapped
    swapped = comp.iloc[:10].rename(columns={"sentence_1": "sentence_2", "sentence_2": "sentence_1"})
    files["partdev"] = pd.concat([comp.iloc[150:190], swapped]).assign(id=[f"d{i}" for i in range(50)])
    paths = {}
    for name, frame in files.items():
        paths[name] = d / f"{name}.csv"
        frame.to_csv(paths[name], index=False)
    paths["tsv"] = d / "train.tsv"
    comp.to_csv(paths["tsv"], sep="\t", index=False)
    # KLUE-STS CSVs (ids made from the file name): a dev file named like a train file is still a dev file
    klue = t[["sentence1", "sentence2", "label"]]
    paths["klue_train"], paths["klue_dev"] = d / "my_train.csv", d / "my_train_dev.csv"
    klue.iloc[:150].to_csv(paths["klue_train"], index=False)
    klue.iloc[150:].to_csv(paths["klue_dev"], index=False)
    paths["file"] = d / "a_file.txt"
    paths["file"].write_text("not a folder\n")
    return paths
