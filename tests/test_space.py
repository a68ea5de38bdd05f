from __future__ import annotations

import pytest

from trainables.space import SpaceError, list_spaces, load_space

EXPECTED = {"tiny", "roberta_large", "roberta_base", "roberta_small", "koelectra_base", "electra_ko_en_base"}


def test_every_expected_space_exists_and_loads():
    assert EXPECTED <= set(list_spaces())
    for name in list_spaces():
        space = load_space(name)
        cfg = space.default_config()
        assert cfg.max_epochs >= 1
        for key, dist in space.search.items():
            assert dist.default is not None, f"{name}: {key} has no default"


def test_tiny_default_point_is_offline(tmp_path):
    cfg = load_space("tiny").default_config()
    assert cfg.random_init and cfg.backbone.endswith("assets/tiny-bert")


def write(tmp_path, text):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    return str(p)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fixed: {learning_rate: 1}\n", r"bad.yaml: fixed: unknown config key 'learning_rate'"),
        ("search: {lr: {loguniform: [1e-5, 1e-4]}}\n", r"search.lr: every searched knob needs a `default`"),
        ("search: {lr: {gaussian: [1, 2], default: 1}}\n", r"search.lr: name exactly one distribution"),
        ("search: {head: {choice: [cls, pooler], default: cls}}\n", r"search.head: value 'pooler' is invalid"),
        ("search: {lr: {uniform: [1e-3, 1e-5], default: 1e-4}}\n", r"low 0.001 must be < high"),
        ("search: {lr: {uniform: [1e-5, 1e-3], default: 1.0}}\n", r"default 1.0 lies outside"),
        ("scheduler: {patience: 3}\n", r"scheduler.patience: unknown key"),
        ("colour: red\n", r"unknown top-level key 'colour'"),
        ("fixed: {lr: 1e-4}\nsearch: {lr: {choice: [1e-4], default: 1e-4}}\n", r"both fixed and searched"),
    ],
)
def test_bad_space_files_name_file_and_key(tmp_path, text, message):
    with pytest.raises(SpaceError, match=message):
        load_space(write(tmp_path, text))


def test_unknown_space_lists_the_available_ones():
    with pytest.raises(SpaceError, match=r"available spaces are .*tiny"):
        load_space("nope")
