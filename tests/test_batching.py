from __future__ import annotations

import numpy as np

from trainables.batching import LengthBucketBatchSampler, PairCollator, pad_fraction
from trainables.tokens import EncodedSplit


def lengths(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(36, 10, size=n).astype(int), 8, 126)


def test_bucketed_batches_cover_every_row_once_and_waste_little():
    lens = lengths()
    s = LengthBucketBatchSampler(lens, 32, seed=1)
    batches = s.batches(0)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(len(lens)))
    bucketed = pad_fraction(lens, batches)
    random_batches = LengthBucketBatchSampler(lens, 32, seed=1, bucket=False).batches(0)
    assert bucketed < 0.02
    assert bucketed < pad_fraction(lens, random_batches) / 5
    assert pad_fraction(lens, batches, pad_to=128) > 0.6


def test_order_changes_per_epoch_and_is_reproducible():
    lens = lengths()
    a = LengthBucketBatchSampler(lens, 32, seed=3)
    b = LengthBucketBatchSampler(lens, 32, seed=3)
    assert a.batches(0) == b.batches(0)
    assert a.batches(0) != a.batches(1)
    first = list(iter(a))
    second = list(iter(a))
    assert first == b.batches(0) and second == b.batches(1)


def test_resume_starts_at_the_right_epoch_order():
    lens = lengths()
    resumed = LengthBucketBatchSampler(lens, 32, seed=3, start_epoch=2)
    assert list(iter(resumed)) == LengthBucketBatchSampler(lens, 32, seed=3).batches(2)


def test_collator_pads_dynamically_or_to_max_length():
    ids = [np.array([2, 10, 3, 11, 3], np.int32), np.array([2, 12, 3, 13, 14, 15, 3], np.int32)]
    enc = EncodedSplit(np.concatenate(ids), None, np.array([0, 5, 12]), np.array([2, 2], np.int32), 0)
    labels = np.array([1.0, 2.0])
    b = PairCollator(enc, labels)([0, 1])
    assert b["input_ids"].shape == (2, 7)
    assert b["attention_mask"].sum().item() == 12
    assert b["input_ids"][0, 5:].tolist() == [0, 0]
    assert "token_type_ids" not in b
    fixed = PairCollator(enc, labels, pad_to=16)([1])
    assert fixed["input_ids"].shape == (1, 16)


def test_token_budget_batches_cover_every_row_once_within_the_budget():
    lens = lengths(500)
    s = LengthBucketBatchSampler(lens, 256, seed=0, shuffle=False, max_tokens=1024)
    batches = s.batches(0)
    assert sorted(i for b in batches for i in b) == list(range(len(lens)))
    assert len(s) == len(batches)
    for b in batches:
        assert len(b) <= 256
        assert len(b) == 1 or len(b) * int(lens[b].max()) <= 1024
    # short pairs share bigger batches than long ones, and the budget wastes less than 256-row batches
    assert len(batches[0]) > len(batches[-1])
    rows_only = LengthBucketBatchSampler(lens, 256, seed=0, shuffle=False).batches(0)
    assert pad_fraction(lens, batches) < pad_fraction(lens, rows_only)
    # two sequences per row (bi-encoders) and a fixed width (pad-to-max_length) count in the budget
    pairs = LengthBucketBatchSampler(lens, 256, seed=0, shuffle=False, max_tokens=1024, seqs_per_row=2).batches(0)
    assert all(len(b) == 1 or 2 * len(b) * int(lens[b].max()) <= 1024 for b in pairs)
    fixed = LengthBucketBatchSampler(lens, 256, seed=0, shuffle=False, max_tokens=1024, pad_to=128).batches(0)
    assert {len(b) for b in fixed[:-1]} == {8}


def test_predictions_by_token_budget_equal_those_by_row_count(micro_config, small_data):
    import torch

    from trainables.batching import make_loader
    from trainables.model import STSRegressor
    from trainables.pipeline import prepare_data

    for separate in (False, True):
        cfg = micro_config(test_path=str(small_data["test"]), head="bi_cosine" if separate else "mean")
        data = prepare_data(cfg)
        torch.manual_seed(0)
        model = STSRegressor(cfg)
        rows = make_loader(data.dev_enc, None, 96, train=False, seed=0)
        budget = make_loader(data.dev_enc, None, 96, train=False, seed=0, max_tokens=300)
        assert len(budget) > len(rows)
        np.testing.assert_allclose(model.predict_loader(budget), model.predict_loader(rows), rtol=1e-5, atol=1e-5)
