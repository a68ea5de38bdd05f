"""Prediction files are verified before they are ensembled (ensemble/verify.py via load_experiment): a damaged
file is named and its trial skipped (or the load fails with strict), and errored trials are never candidates."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from ensemble_synth import make_experiment

from ensemble.experiment import ExperimentError, load_experiment
from ensemble.select_cli import main as select_main
from trainables.checkpoint import META, prediction_digests


def _sealed(tmp_path, **kw):
    """A synthetic experiment whose checkpoints record their prediction digests, with a data.json."""
    synth = make_experiment(tmp_path / "exp", **kw)
    for trial_id in synth.trial_ids:
        ckpt = synth.checkpoint(trial_id)
        meta = json.loads((ckpt / META).read_text())
        (ckpt / META).write_text(json.dumps({**meta, "predictions": prediction_digests(ckpt)}))
    (synth.root / "data.json").write_text(json.dumps({"dev_ids": synth.dev_ids, "test_ids": synth.test_ids}))
    return synth


def _cut(path, keep_rows: int) -> None:
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[: keep_rows + 1]))  # at a line boundary: still a well-formed CSV


def test_a_truncated_prediction_file_is_named_and_its_trial_skipped(tmp_path):
    synth = _sealed(tmp_path)
    best, second = synth.ranked[:2]
    damaged = synth.checkpoint(second) / "dev_predictions.csv"
    _cut(damaged, 150)
    warnings: list[str] = []
    loaded = load_experiment(synth.root, top_k=3, warn=warnings.append)
    ids = [m.trial_id for m in loaded.library.members]
    assert second not in ids and best in ids and len(ids) == 3  # the next trial fills its place
    assert loaded.library.dev_preds.shape == (3, 300)  # no row lost to the damaged file
    assert loaded.rejected == [second]
    assert any(str(damaged) in w and "150 rows, its checkpoint recorded 300" in w for w in warnings)
    with pytest.raises(ExperimentError, match=rf"trial {second}: {damaged}.*--strict"):
        load_experiment(synth.root, top_k=3, strict=True)


def test_an_edited_test_file_is_caught_by_its_hash(tmp_path):
    synth = _sealed(tmp_path)
    target = synth.checkpoint(synth.ranked[0]) / "test_predictions.csv"
    frame = pd.read_csv(target)
    frame.loc[0, "prediction"] += 1.0
    frame.to_csv(target, index=False)
    warnings: list[str] = []
    loaded = load_experiment(synth.root, top_k=2, warn=warnings.append)
    assert synth.ranked[0] not in [m.trial_id for m in loaded.library.members]
    assert any("sha256 mismatch" in w and str(target) in w for w in warnings)


def test_predictions_on_other_ids_than_the_search_used_are_refused(tmp_path):
    synth = make_experiment(tmp_path / "exp")  # checkpoints without digests (older experiments): ids still checked
    data = json.loads(json.dumps({"dev_ids": [*synth.dev_ids[:-1], "dev-other"], "test_ids": synth.test_ids}))
    (synth.root / "data.json").write_text(json.dumps(data))
    with pytest.raises(ExperimentError, match=r"does not hold the search's dev ids \(data.json\): 1 missing, 1 extra"):
        load_experiment(synth.root, top_k=2, strict=True)


def test_errored_trials_are_never_candidates(tmp_path):
    synth = _sealed(tmp_path)
    board = pd.read_csv(synth.root / "leaderboard.csv", dtype={"trial_id": str})
    board.loc[board["trial_id"] == synth.ranked[0], "status"] = "ERROR"
    board.to_csv(synth.root / "leaderboard.csv", index=False)
    loaded = load_experiment(synth.root, top_k=2, warn=lambda _: None)
    assert synth.ranked[0] not in [m.trial_id for m in loaded.library.members]


def test_select_warns_and_strict_fails_in_one_line(tmp_path, capsys):
    synth = _sealed(tmp_path)
    _cut(synth.checkpoint(synth.ranked[0]) / "dev_predictions.csv", 10)
    assert select_main(["--experiment", str(synth.root), "--top-k", "3", "--holdout-repeats", "2"]) == 0
    assert f"warning: trial {synth.ranked[0]} skipped" in capsys.readouterr().err
    assert select_main(["--experiment", str(synth.root), "--top-k", "3", "--strict"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "10 rows, its checkpoint recorded 300" in err
