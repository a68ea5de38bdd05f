"""The bi-encoder path: each sentence tokenized alone (with the model's prefix), batched as 2B rows, pooled,
compared by cosine; through the token cache, bucketing, training, R-Drop and prediction."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trainables.batching import PairCollator, make_loader, pad_fraction
from trainables.data import read_table
from trainables.heads import BiCosineHead
from trainables.inference import load_checkpoint
from trainables.model import STSRegressor
from trainables.tokens import EncodedSplit, TokenCache, cache_key, encode_table, load_tokenizer
from trainables.training import prepare_data, train


@pytest.fixture
def table(small_data):
    return read_table(small_data["dev"]).head(12)


def test_separate_encoding_tokenizes_each_sentence_alone_with_the_prefix(micro_backbone, table):
    tok = load_tokenizer(str(micro_backbone))
    enc = encode_table(tok, table, 32, prefix="query: ", separate=True)
    assert len(enc) == len(table) and enc.second is not None and len(enc.second) == len(table)
    for i in (0, 5):
        assert enc.ids(i).tolist() == tok("query: " + table["sentence_1"].iloc[i], truncation=True,
                                          max_length=32)["input_ids"]
        assert enc.second.ids(i).tolist() == tok("query: " + table["sentence_2"].iloc[i], truncation=True,
                                                 max_length=32)["input_ids"]
    np.testing.assert_array_equal(enc.widths, np.maximum(enc.lengths, enc.second.lengths))
    sub = enc.subset(np.array([3, 1]))
    assert sub.second.ids(0).tolist() == enc.second.ids(3).tolist()
    both = EncodedSplit.concat([enc, sub])
    assert len(both) == len(table) + 2 and both.second.ids(len(table)).tolist() == enc.second.ids(3).tolist()
    with pytest.raises(ValueError, match="pair and separate"):
        EncodedSplit.concat([enc, encode_table(tok, table, 32)])


def test_cache_keys_and_files_keep_the_encoding_mode_and_prefix(micro_backbone, table, tmp_path):
    name = str(micro_backbone)
    keys = {cache_key(name, 32, table), cache_key(name, 32, table, prefix="query: "),
            cache_key(name, 32, table, separate=True), cache_key(name, 32, table, prefix="query: ", separate=True)}
    assert len(keys) == 4
    cache = TokenCache(tmp_path)
    a = cache.get_or_encode(name, table, 32, prefix="query: ", separate=True)
    b = cache.get_or_encode(name, table, 32, prefix="query: ", separate=True)
    assert cache.misses == 1 and cache.hits == 1
    np.testing.assert_array_equal(a.second.flat_ids, b.second.flat_ids)
    np.testing.assert_array_equal(a.second.offsets, b.second.offsets)


def test_collator_stacks_first_then_second_sentences_padded_to_one_width(micro_backbone, table):
    enc = encode_table(load_tokenizer(str(micro_backbone)), table, 32, separate=True)
    batch = PairCollator(enc, None)([2, 7, 4])
    width = int(enc.widths[[2, 7, 4]].max())
    assert batch["input_ids"].shape == (6, width) and batch["index"].tolist() == [2, 7, 4]
    assert batch["input_ids"][1, : enc.lengths[7]].tolist() == enc.ids(7).tolist()
    assert batch["input_ids"][4, : enc.second.lengths[7]].tolist() == enc.second.ids(7).tolist()
    assert batch["attention_mask"][4].sum() == enc.second.lengths[7]
    lengths = enc.part_lengths
    assert lengths.shape == (len(table), 2)
    # two sequences per pair: padding counts the slots of both
    rows = [[0, 1, 2]]
    expect = 1 - lengths[[0, 1, 2]].sum() / (6 * lengths[[0, 1, 2]].max())
    assert pad_fraction(lengths, rows) == pytest.approx(expect)


def test_bi_cosine_prediction_is_the_scaled_cosine_of_mean_pooled_sentences(micro_config):
    cfg = micro_config(head="bi_cosine", hidden_dropout=0.0)
    model = STSRegressor(cfg).eval()
    data = prepare_data(cfg)
    batch = next(iter(make_loader(data.dev_enc, None, 8, train=False, seed=0)))
    with torch.no_grad():
        pred = model(batch)
        h = model.backbone(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        m = batch["attention_mask"].unsqueeze(-1).float()
        pooled = (h * m).sum(1) / m.sum(1)
        a, b = pooled.chunk(2)
        expect = torch.nn.functional.cosine_similarity(a, b) * 10.0 - 5.0
    assert isinstance(model.head, BiCosineHead)
    torch.testing.assert_close(pred, expect, rtol=1e-4, atol=1e-4)
    # symmetric by construction: swapping the halves gives the same scores
    n = len(batch["index"])
    swapped = {**batch, "input_ids": batch["input_ids"].roll(n, 0),
               "attention_mask": batch["attention_mask"].roll(n, 0)}
    with torch.no_grad():
        torch.testing.assert_close(model(swapped), pred, rtol=1e-4, atol=1e-4)


def test_bi_encoder_trains_with_rdrop_and_predicts_from_its_checkpoint(micro_config, tmp_path):
    class Keep:
        def on_validation(self, metrics, improved, write):
            if improved:
                write(tmp_path / "best")

    cfg = micro_config(head="bi_cosine", rdrop_alpha=1.0, hidden_dropout=0.1, limit_train_batches=3,
                       text_prefix="query: ")
    result = train(cfg, Keep())
    assert np.isfinite(result.val_pearson) and result.steps == 3
    assert 0 < result.pad_fraction < 0.5
    saved = np.loadtxt(tmp_path / "best" / "dev_predictions.csv", delimiter=",", skiprows=1, usecols=2)
    predictor = load_checkpoint(tmp_path / "best")
    np.testing.assert_allclose(predictor.predict(prepare_data(cfg).dev), saved, rtol=1e-4, atol=1e-4)


def test_bi_head_refuses_pair_encoded_batches(micro_config):
    model = STSRegressor(micro_config(head="bi_cosine"))
    with pytest.raises(ValueError, match="bi_cosine head"):
        model.head(torch.zeros(3, 4, 32), torch.ones(3, 4), torch.zeros(3, dtype=torch.long))
