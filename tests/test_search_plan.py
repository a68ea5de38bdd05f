"""The search driver's checks that run before Ray starts (no Ray instance needed)."""

from __future__ import annotations

import pytest
from ray import tune as rtune
from ray.tune.schedulers import (
    AsyncHyperBandScheduler,
    FIFOScheduler,
    HyperBandForBOHB,
    HyperBandScheduler,
    MedianStoppingRule,
    PopulationBasedTraining,
)

from trainables.config import ConfigError
from trainables.space import load_space
from tune import search
from tune.ray_space import make_scheduler, param_space, to_ray


def test_list_spaces_prints_every_space(capsys):
    assert search.main(["--list-spaces"]) == 0
    out = capsys.readouterr().out
    for name in ("tiny", "roberta_large", "roberta_base", "roberta_small", "koelectra_base", "electra_ko_en_base"):
        assert name in out


def test_dry_run_of_a_hub_space_without_the_model_fails_in_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))
    assert search.main(["--space", "roberta_large", "--dry-run"]) == 2
    cap = capsys.readouterr()
    # a CPU without native bf16 also hears about the space's bf16-mixed (trainables/precision.py): a warning, before
    err = [line for line in cap.err.strip().splitlines() if not line.startswith("warning: precision bf16-mixed")]
    assert len(err) == 1 and "klue/roberta-large" in err[0] and "Traceback" not in cap.err
    assert "python -m tune.prefetch --space roberta_large" in err[0] and "--set backbone=" in err[0]
    assert "dry run: nothing started" not in cap.out


def test_dry_run_of_a_hub_space_passes_with_the_model_in_the_hf_cache(capsys, tmp_path, monkeypatch):
    from tests.test_backbones import cache_snapshot

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    cache_snapshot(tmp_path / "hf-home", "klue/roberta-large")
    assert search.main(["--space", "roberta_large", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "klue/roberta-large" in out and "in the Hugging Face cache" in out and "dry run: nothing started" in out
    assert "lr ~ loguniform" in out and "train 11168 rows" in out


def test_bad_space_file_fails_before_ray_with_file_and_key(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("search: {learning_rate: {loguniform: [1.0e-5, 1.0e-4], default: 2.0e-5}}\n")
    assert search.main(["--space", str(bad), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "learning_rate" in err


def test_bad_data_fails_before_ray(tmp_path, capsys):
    bad = tmp_path / "train.csv"
    bad.write_text("id,source,sentence_1,sentence_2,label,binary-label\na,x,가,,1.0,0\n")
    assert search.main(["--space", "tiny", "--dry-run", "--set", f"train_path={bad}"]) == 2
    assert "column sentence_2: sentence is empty" in capsys.readouterr().err


def test_pins_override_searched_knobs_and_paths_are_absolute():
    space = load_space("tiny")
    ps = param_space(space, "optuna", {"max_epochs": 2}, {"head": "cls", "lr": 1e-4})
    assert ps["head"] == "cls" and ps["lr"] == 1e-4 and ps["max_epochs"] == 2
    assert ps["backbone"].startswith("/")
    assert isinstance(ps["batch_size"], type(rtune.choice([1, 2])))


def test_grid_becomes_grid_search_only_for_grid_capable_searchers():
    space = load_space("tiny")
    d = space.search["batch_size"]
    assert isinstance(to_ray(d, "grid"), dict) and "grid_search" in to_ray(d, "grid")
    assert not isinstance(to_ray(d, "optuna"), dict)


def test_scheduler_flag_checks():
    space = load_space("tiny")
    kw = dict(max_epochs=3, grace_period=1, reduction_factor=3, space=space, seed=0)
    with pytest.raises(ConfigError, match="bohb needs --scheduler hyperband"):
        make_scheduler("asha", search_alg="bohb", **kw)
    with pytest.raises(ConfigError, match="grace-period 5 must be <= --max-epochs 3"):
        make_scheduler("asha", search_alg="optuna", **{**kw, "grace_period": 5})
    # the same checks as the plan's before Ray starts (tune/preflight.check_schedule; tests/test_bad_inputs.py)
    with pytest.raises(ConfigError, match=r"reduction-factor 0\.5 must be > 1"):
        make_scheduler("asha", search_alg="optuna", **{**kw, "reduction_factor": 0.5})
    expected = {"asha": AsyncHyperBandScheduler, "hyperband": HyperBandScheduler, "median": MedianStoppingRule,
                "pbt": PopulationBasedTraining, "fifo": FIFOScheduler}
    for name, cls in expected.items():
        assert type(make_scheduler(name, search_alg="random", **kw)) is cls, name
    assert type(make_scheduler("hyperband", search_alg="bohb", **kw)) is HyperBandForBOHB
    asha = make_scheduler("asha", search_alg="random", **kw)
    assert (asha._time_attr, asha._max_t) == ("epoch", 3)  # the budget is in epochs, as the flags say


def test_head_local_storage_is_refused_on_a_multi_node_cluster(tmp_path):
    search.check_storage_for_cluster(str(tmp_path), alive_nodes=1, asserted_shared=False)
    search.check_storage_for_cluster("s3://bucket/x", alive_nodes=3, asserted_shared=False)
    search.check_storage_for_cluster(str(tmp_path), alive_nodes=3, asserted_shared=True)
    with pytest.raises(ConfigError, match=r"local path .* but the cluster has 3 nodes"):
        search.check_storage_for_cluster(str(tmp_path), alive_nodes=3, asserted_shared=False)


@pytest.mark.parametrize("alg", ["optuna", "random"])
def test_the_spaces_default_point_is_the_first_trial(alg):
    from tune.ray_space import default_point, make_search_alg

    space = load_space("e5_small")
    pins = {"lr": 1e-4}
    searcher = make_search_alg(alg, 0, 0, space, pins)
    first = default_point(space, pins)
    assert "lr" not in first and first["head"] == "bi_cosine"
    if alg == "optuna":
        searcher.set_search_properties("val_pearson", "max", param_space(space, alg, {"max_epochs": 1}, pins))
        suggested = searcher.suggest("t0")
        assert {k: suggested[k] for k in first} == first and "lr" not in suggested  # pinned: not searched
    else:
        assert searcher._points_to_evaluate == [first]


def test_folds_pins_every_fold_as_one_candidate():
    args = search.build_parser().parse_args(["--space", "tiny", "--folds", "4", "--storage", "/tmp/unused"])
    p = search.plan(args)
    assert p.pins["num_folds"] == 4 and p.pins["fold"] == -1
    assert all(cfg.num_folds == 4 and cfg.fold == -1 for cfg in p.variants)
