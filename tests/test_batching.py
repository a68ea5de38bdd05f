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
