from __future__ import annotations

import os

import numpy as np
import pytest

import trainables.tokens as tokens
from trainables.data import read_table
from trainables.pipeline import prepare_data
from trainables.tokens import TokenCache, encode_table, load_tokenizer


def test_pairs_are_encoded_as_pairs_with_model_separators(micro_backbone, small_data):
    tok = load_tokenizer(str(micro_backbone))
    table = read_table(small_data["dev"]).head(5)
    enc = encode_table(tok, table, max_length=128)
    first = enc.ids(0)
    assert first[0] == tok.cls_token_id and first[-1] == tok.sep_token_id
    assert first[enc.sep_index[0]] == tok.sep_token_id and 0 < enc.sep_index[0] < len(first) - 1
    # token type ids switch to 1 after the first separator
    types = enc.types(0)
    assert types[enc.sep_index[0]] == 0 and types[enc.sep_index[0] + 1] == 1
    assert "[SEP]" not in table["sentence_1"].iloc[0]


def test_truncation_respects_max_length(micro_backbone, small_data):
    tok = load_tokenizer(str(micro_backbone))
    table = read_table(small_data["dev"])
    enc = encode_table(tok, table, max_length=16)
    assert enc.lengths.max() == 16


def test_second_run_hits_the_token_cache_without_a_tokenizer(micro_config, monkeypatch, tmp_path):
    cfg = micro_config(cache_dir=str(tmp_path / "cache"))
    first = prepare_data(cfg)
    assert first.cache_misses == 2 and first.cache_hits == 0

    def no_tokenizer(name):
        raise AssertionError("the tokenizer was loaded although the token cache should have been hit")

    monkeypatch.setattr(tokens, "load_tokenizer", no_tokenizer)
    second = prepare_data(cfg)
    assert second.cache_hits == 2 and second.cache_misses == 0
    np.testing.assert_array_equal(first.train_enc.flat_ids, second.train_enc.flat_ids)
    np.testing.assert_array_equal(first.dev_enc.offsets, second.dev_enc.offsets)


def test_cache_key_changes_with_max_length_data_and_preprocessing(micro_backbone, small_data):
    table = read_table(small_data["dev"])
    k = tokens.cache_key(str(micro_backbone), 128, table)
    assert k != tokens.cache_key(str(micro_backbone), 64, table)
    assert k != tokens.cache_key(str(micro_backbone), 128, table.head(10))
    assert k != tokens.cache_key(str(micro_backbone), 128, table, preprocess_key="emoji")
    assert k == tokens.cache_key(str(micro_backbone), 128, table.copy())


def test_subset_and_concat_keep_rows(micro_backbone, small_data, tmp_path):
    cache = TokenCache(tmp_path)
    table = read_table(small_data["dev"])
    enc = cache.get_or_encode(str(micro_backbone), table, 128)
    rows = np.array([5, 2, 9])
    sub = enc.subset(rows)
    for j, i in enumerate(rows):
        np.testing.assert_array_equal(sub.ids(j), enc.ids(int(i)))
    both = tokens.EncodedSplit.concat([sub, enc.subset(np.array([0]))])
    assert len(both) == 4
    np.testing.assert_array_equal(both.ids(3), enc.ids(0))


@pytest.mark.parametrize("name", ["klue/roberta-large"])
def test_hub_names_are_fingerprinted_by_name(name):
    assert tokens.tokenizer_fingerprint(name) == f"hub:{name}"


def test_token_arrays_stay_warm_read_only_and_follow_a_rewritten_file(micro_config, tmp_path):
    cfg = micro_config(cache_dir=str(tmp_path / "cache"))
    tokens.clear_warm()
    first = prepare_data(cfg)  # tokenizes and writes the cache
    warm = prepare_data(cfg)  # loads it once, then keeps it
    again = prepare_data(cfg)
    assert again.dev_enc.flat_ids is warm.dev_enc.flat_ids  # the same arrays: no second load
    assert again.dev_enc is not warm.dev_enc  # but each caller has its own EncodedSplit
    with pytest.raises(ValueError):
        again.dev_enc.flat_ids[0] = 1  # one trial cannot change what the next one gets
    np.testing.assert_array_equal(first.dev_enc.flat_ids, again.dev_enc.flat_ids)
    # a rewritten cache file (same key) is read again
    path = next((tmp_path / "cache" / "tokens").glob("*.npz"))
    enc = tokens.TokenCache._load(path)
    enc.pad_token_id = 99
    tokens.TokenCache._save(path, enc)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    reloaded = prepare_data(cfg)
    assert 99 in (reloaded.train_enc.pad_token_id, reloaded.dev_enc.pad_token_id)
