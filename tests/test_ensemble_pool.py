"""ensemble/pool.py: several experiments' top trials as one library, through `select.py` and `report.py`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ensemble_synth import make_experiment

from ensemble import select_cli
from ensemble.experiment import ExperimentError
from ensemble.pool import expand_experiments, load_pool, short_labels
from trainables.metrics import pearson
from tune import report


def two(tmp_path: Path, *, members: int = 4, labelled_test: bool = True):
    """Two experiments on the same dev/test rows whose members make independent errors."""
    a = make_experiment(tmp_path / "runs" / "x1", members=members, seed=0, labelled_test=labelled_test)
    rng = np.random.default_rng(7)
    own = np.vstack([a.labels + rng.normal(0.0, 1.0, len(a.labels)) for _ in range(members)])
    b = make_experiment(tmp_path / "runs" / "x2", members=members, seed=0, dev_preds=own,
                        labelled_test=labelled_test)
    for trial in b.trial_ids:  # the same test rows and labels as x1's, this experiment's own predictions
        frame = pd.read_csv(a.checkpoint(trial) / "test_predictions.csv", dtype={"id": str})
        frame["prediction"] = frame["label"] + rng.normal(0.0, 1.0, len(frame))
        frame.to_csv(b.checkpoint(trial) / "test_predictions.csv", index=False)
    return a, b


def test_pool_names_members_by_experiment_and_keeps_row_order(tmp_path: Path) -> None:
    a, b = two(tmp_path)
    # the second experiment lists its dev rows in another order: pooled by id, not by position
    for trial in b.trial_ids:
        path = b.checkpoint(trial) / "dev_predictions.csv"
        frame = pd.read_csv(path, dtype={"id": str})
        frame.iloc[::-1].to_csv(path, index=False)
    pooled = load_pool([a.root, b.root], top_k=3)
    lib = pooled.library
    assert pooled.labels == ["x1", "x2"] and lib.size == 6
    assert [m.name.split("/")[0] for m in lib.members] == ["x1"] * 3 + ["x2"] * 3
    assert len({m.name for m in lib.members}) == 6  # the synthetic trial ids repeat across the two
    assert {m.experiment for m in lib.members} == {a.root.resolve(), b.root.resolve()}
    assert lib.dev_ids.tolist() == a.dev_ids
    x2_first = lib.members[3]
    row = b.trial_ids.index(x2_first.trial_id)
    np.testing.assert_allclose(lib.dev_preds[3], b.dev_preds[row])


def test_one_experiment_keeps_bare_trial_ids(tmp_path: Path) -> None:
    a = make_experiment(tmp_path / "only", members=3)
    pooled = load_pool([a.root])
    assert pooled.labels == [""] and [m.name for m in pooled.library.members] == [
        m.trial_id for m in pooled.library.members]


def test_differing_dev_ids_name_the_experiment(tmp_path: Path) -> None:
    a = make_experiment(tmp_path / "x1", members=2, n_dev=300)
    b = make_experiment(tmp_path / "x2", members=2, n_dev=280)
    with pytest.raises(ExperimentError, match=r"experiment x2: its dev ids differ from experiment x1's \(20 missing"):
        load_pool([a.root, b.root])


def test_differing_dev_labels_name_the_experiment(tmp_path: Path) -> None:
    a = make_experiment(tmp_path / "x1", members=2, seed=0)
    b = make_experiment(tmp_path / "x2", members=2, seed=1)  # same ids, other labels
    with pytest.raises(ExperimentError, match=r"experiment x2: dev label of id 'dev-00003' is .* in experiment x1"):
        load_pool([a.root, b.root])


def test_test_predictions_in_one_experiment_only_is_an_error(tmp_path: Path) -> None:
    a = make_experiment(tmp_path / "x1", members=2, n_test=None)
    b = make_experiment(tmp_path / "x2", members=2)
    with pytest.raises(ExperimentError, match="experiment x2 has test predictions but experiment x1 has none"):
        load_pool([a.root, b.root])


def test_differing_test_labels_are_an_error(tmp_path: Path) -> None:
    a, b = two(tmp_path, members=2)
    for trial in b.trial_ids:
        path = b.checkpoint(trial) / "test_predictions.csv"
        frame = pd.read_csv(path, dtype={"id": str})
        frame.loc[frame.index[0], "label"] += 1.0
        frame.to_csv(path, index=False)
    with pytest.raises(ExperimentError, match="experiment x2: test label of id"):
        load_pool([a.root, b.root])


def test_a_broken_experiment_is_named(tmp_path: Path) -> None:
    a = make_experiment(tmp_path / "x1", members=2)
    (tmp_path / "x2").mkdir()
    with pytest.raises(ExperimentError, match=r"^experiment x2: .*leaderboard.csv not found"):
        load_pool([a.root, tmp_path / "x2"])


def test_globs_and_repeats(tmp_path: Path) -> None:
    a, b = two(tmp_path, members=2)
    (tmp_path / "runs" / "not-an-experiment").mkdir()
    found = expand_experiments([str(tmp_path / "runs" / "x*"), a.root, str(tmp_path / "runs" / "*")])
    assert found == [a.root.resolve(), b.root.resolve()]
    with pytest.raises(ExperimentError, match="matches no experiment directory"):
        expand_experiments([str(tmp_path / "nothing*")])
    assert short_labels([Path("/r/a/x1"), Path("/r/b/x1")]) == ["a/x1", "b/x1"]


def test_select_pools_two_experiments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = two(tmp_path)
    out = tmp_path / "ens"
    argv = ["--experiment", a.root, "--experiment", b.root, "--output", out, "--method", "mean",
            "--holdout-repeats", "5"]
    assert select_cli.main([str(v) for v in argv]) == 0
    assert "pooled 4 from x1, 4 from x2" in capsys.readouterr().out
    ens = json.loads((out / "ensemble.json").read_text())
    assert ens["experiments"] == [str(a.root.resolve()), str(b.root.resolve())]
    assert {m["experiment"] for m in ens["members"]} == set(ens["experiments"]) and len(ens["members"]) == 8
    assert all(m["name"] == f"{Path(m['experiment']).name}/{m['trial_id']}" for m in ens["members"])
    # the second experiment's members err independently of the first's: the pooled mean beats each one's own
    own = [pearson(s.dev_preds.mean(axis=0), s.labels) for s in (a, b)]
    assert ens["dev_pearson"] > max(own)
    submission = pd.read_csv(out / "submission.csv")
    assert len(submission) == len(a.test_ids or [])


def test_several_experiments_need_an_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = two(tmp_path, members=2)
    assert select_cli.main(["--experiment", str(a.root), "--experiment", str(b.root)]) == 2
    assert "pass --output" in capsys.readouterr().err
    assert not (a.root / "ensemble").exists()


def test_report_shows_members_by_experiment(tmp_path: Path) -> None:
    a, b = two(tmp_path)
    out = tmp_path / "ens"
    argv = ["--experiment", str(a.root), "--experiment", str(b.root), "--output", str(out),
            "--holdout-repeats", "5", "--trials", "50", "--ensemble-size", "5"]
    assert select_cli.main(argv) == 0
    page_path = tmp_path / "report.html"
    code = report.main(["--experiment", str(a.root), "--experiment", str(b.root),
                        "--ensemble", str(out / "ensemble.json"), "--output", str(page_path)])
    assert code == 0
    page = page_path.read_text(encoding="utf-8")
    ids = __import__("re").findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))  # the two experiments' sections and figures do not collide
    assert 'id="e1-summary"' in page and 'id="e2-summary"' in page and 'id="ensemble"' in page
    members = page[page.index("<h3>Members by experiment</h3>"):]
    assert "Pooled from" in members and ">x1<" in members and ">x2<" in members
    assert "was selected from" not in page
    assert "stacking" in page[page.index('id="ensemble"'):]  # the held-out table lists every method
