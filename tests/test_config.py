from __future__ import annotations

import pytest

from trainables.config import ConfigError, TrialConfig, parse_overrides


def test_defaults_are_valid():
    cfg = TrialConfig()
    assert cfg.head == "cls" and cfg.precision == "32"


def test_unknown_key_is_an_error_with_a_suggestion():
    with pytest.raises(ConfigError, match=r"unknown config key 'learning_rate'.*Valid keys"):
        TrialConfig.from_dict({"learning_rate": 1e-5})
    with pytest.raises(ConfigError, match="Did you mean lr"):
        TrialConfig.from_dict({"lrr": 1e-5})


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("head", "pooler", "allowed values are cls, cls_sep_concat"),
        ("loss", "kl", "allowed values are l1, mse"),
        ("optimizer", "lion", "allowed values are adam"),
        ("schedule", "poly", "allowed values are constant"),
        ("precision", "8", "allowed values are 32"),
        ("lr", 0, "must be > 0"),
        ("hidden_dropout", 1.5, "dropout probability"),
        ("batch_size", "many", "expected an integer"),
        ("warmup_ratio", 1.0, r"must be in \[0, 1\)"),
        ("num_folds", 1, "K >= 2"),
    ],
)
def test_bad_values_name_the_field_and_allowed_values(key, value, message):
    with pytest.raises(ConfigError, match=message):
        TrialConfig.from_dict({key: value})


def test_fold_must_be_inside_num_folds():
    with pytest.raises(ConfigError, match="fold=5"):
        TrialConfig(num_folds=5, fold=5)


def test_overrides_parse_yaml_scalars_and_coerce():
    over = parse_overrides(["lr=3e-5", "random_init=true", "precision=32", "preprocess=[emoji, whitespace]"])
    cfg = TrialConfig.from_dict(over)
    assert cfg.lr == pytest.approx(3e-5)
    assert cfg.random_init is True
    assert cfg.precision == "32"
    assert cfg.preprocess == ["emoji", "whitespace"]


def test_override_needs_key_value_and_known_key():
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_overrides(["lr"])
    with pytest.raises(ConfigError, match="unknown config key 'epochs'"):
        parse_overrides(["epochs=3"])


def test_numpy_values_from_samplers_are_coerced():
    import numpy as np

    cfg = TrialConfig.from_dict({"batch_size": np.int64(16), "lr": np.float64(1e-4), "max_epochs": 2.0})
    assert type(cfg.batch_size) is int and type(cfg.lr) is float and cfg.max_epochs == 2


def test_to_dict_roundtrip():
    cfg = TrialConfig(lr=1e-4, head="mean", preprocess=["emoji"])
    assert TrialConfig.from_dict(cfg.to_dict()) == cfg
