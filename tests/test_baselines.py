from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import trainables.baselines as baselines
from trainables.baselines import CHAR_BIGRAM, ZERO_SHOT, char_bigram_overlap, compare_line, compute_baselines
from trainables.data import read_table


def pairs(*rows):
    return pd.DataFrame({"sentence_1": [a for a, _, _ in rows], "sentence_2": [b for _, b, _ in rows],
                         "label": [y for _, _, y in rows]})


def test_char_bigram_overlap_by_hand():
    t = pairs(("가나다", "가나다", 5.0), ("가나다", "라마바", 0.0), ("가 나다", "가나라", 2.0))
    # 가나다 -> {가나, 나다}; 가나라 -> {가나, 나라}: Dice = 2*1/4; spaces are ignored
    np.testing.assert_allclose(char_bigram_overlap(t), [1.0, 0.0, 0.5])


def test_baselines_score_dev_and_labelled_test_and_are_cached(micro_config, small_data, monkeypatch):
    dev = read_table(small_data["dev"])
    test = dev.head(40)
    out = compute_baselines(micro_config(random_init=True), dev, test)
    assert set(out) == {CHAR_BIGRAM}  # a random-init backbone has no zero-shot score
    assert set(out[CHAR_BIGRAM]) == {"dev", "test"} and 0.0 < out[CHAR_BIGRAM]["dev"] < 1.0

    def boom(*a, **k):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(baselines, "char_bigram_overlap", boom)
    assert compute_baselines(micro_config(random_init=True), dev, test) == out
    unlabelled = test.assign(label=np.nan)
    monkeypatch.undo()
    assert set(compute_baselines(micro_config(random_init=True), dev, unlabelled)[CHAR_BIGRAM]) == {"dev"}


def test_zero_shot_cosine_for_a_pretrained_backbone(micro_config, small_data, tmp_path):
    from transformers import AutoConfig, AutoModel

    src = micro_config().backbone
    AutoModel.from_config(AutoConfig.from_pretrained(src)).save_pretrained(tmp_path)
    for f in __import__("pathlib").Path(src).iterdir():
        if f.is_file() and f.name != "config.json":
            (tmp_path / f.name).write_bytes(f.read_bytes())
    dev = read_table(small_data["dev"]).head(30)
    cfg = micro_config(backbone=str(tmp_path), random_init=False)
    cos = baselines.zero_shot_cosine(cfg, dev)
    assert cos.shape == (30,) and np.all(np.abs(cos) <= 1.0 + 1e-6)
    out = compute_baselines(cfg, dev, None)
    assert out[ZERO_SHOT]["dev"] == pytest.approx(np.corrcoef(cos, dev["label"])[0, 1], abs=1e-4)


def test_compare_line_says_above_or_below():
    refs = {CHAR_BIGRAM: {"dev": 0.6, "test": 0.3}, ZERO_SHOT: {"dev": 0.9}}
    line = compare_line("best trial", 0.8, refs, "dev")
    assert "+0.200 over char_bigram_overlap" in line and "-0.100 BELOW zero_shot_cosine" in line
    assert "zero_shot" not in compare_line("best trial", 0.8, refs, "test")
