"""The data pipeline of a trial: read and validate the splits, preprocess, fold, augment (train only), encode.

Everything here runs once per (data, tokenizer, max_length, preprocessing) and is cached on disk, so the search
driver calls `prepare_data` before Ray starts and every trial only loads token arrays (docs/architecture.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from trainables.config import TrialConfig
from trainables.data import kfold_indices, load_splits
from trainables.tokens import EncodedSplit, TokenCache
from trainables.tta import swapped


@dataclass
class PreparedData:
    train: pd.DataFrame
    dev: pd.DataFrame
    test: pd.DataFrame | None
    train_enc: EncodedSplit
    dev_enc: EncodedSplit
    test_enc: EncodedSplit | None
    cache_hits: int = 0
    cache_misses: int = 0
    augmentation_report: str = ""
    warnings: tuple[str, ...] = ()  # about the data (trainables/datachecks.py), for the command line to print
    # tta: swap (trainables/tta.py): the same dev/test rows with the sentences exchanged, else None
    dev_swap_enc: EncodedSplit | None = None
    test_swap_enc: EncodedSplit | None = None


def tokenizer_name(cfg: TrialConfig) -> str:
    return cfg.tokenizer or cfg.backbone


def prepare_data(cfg: TrialConfig, *, tokenizer=None) -> PreparedData:
    """Read, validate, preprocess, split, augment (train only) and encode through the token cache."""
    splits = load_splits(cfg.train_path, cfg.dev_path, cfg.test_path, cfg.data_format,
                         allow_overlap=cfg.allow_overlap, batch_size=cfg.batch_size, num_folds=cfg.num_folds)
    train, dev, test = splits.train, splits.dev, splits.test
    prep_key = ""
    if cfg.preprocess:
        from trainables.preprocess import pipeline_key, preprocess_table

        speller = cfg.speller_cache or None
        prep_key = pipeline_key(cfg.preprocess, speller)
        cache_dir = Path(cfg.cache_dir) / "preprocess" if cfg.cache_dir else None
        train = preprocess_table(train, cfg.preprocess, cache_dir=cache_dir, speller_cache=speller)
        dev = preprocess_table(dev, cfg.preprocess, cache_dir=cache_dir, speller_cache=speller)
        if test is not None:
            test = preprocess_table(test, cfg.preprocess, cache_dir=cache_dir, speller_cache=speller)

    cache = TokenCache(cfg.cache_dir or None)
    name = tokenizer_name(cfg)

    def encode(table: pd.DataFrame) -> EncodedSplit:
        return cache.get_or_encode(
            name, table, cfg.max_length, prep_key, tokenizer=tokenizer, prefix=cfg.text_prefix,
            separate=cfg.separate_sentences,
        )

    if cfg.num_folds:
        # encode the pooled table once (its fingerprint does not depend on the fold), then slice it
        pool = pd.concat([train, dev], ignore_index=True)
        pool_enc = encode(pool)
        # fold -1 (all folds, trainables/kfold.py) trains each fold in turn; the pool is what is prepared here
        tr_idx, va_idx = kfold_indices(pool["label"].to_numpy(), cfg.num_folds, max(cfg.fold, 0), cfg.fold_seed)
        train, dev = pool.iloc[tr_idx].reset_index(drop=True), pool.iloc[va_idx].reset_index(drop=True)
        train_enc, dev_enc = pool_enc.subset(tr_idx), pool_enc.subset(va_idx)
        dev_swap_enc = encode(swapped(pool)).subset(va_idx) if cfg.swap_views else None
    else:
        train_enc, dev_enc = encode(train), encode(dev)
        dev_swap_enc = encode(swapped(dev)) if cfg.swap_views else None

    report = ""
    if cfg.augmentation != "none":
        from trainables.augment import augment_train

        augmented, rep = augment_train(
            train, cfg.augmentation, seed=cfg.seed, rate=cfg.augmentation_rate,
            synonyms_path=cfg.synonyms_path or None, paraphrases_path=cfg.paraphrases_path or None,
        )
        report = rep.format()
        base_ok = len(augmented) >= len(train) and augmented["id"].iloc[: len(train)].tolist() == train["id"].tolist()
        if base_ok:
            added = augmented.iloc[len(train):].reset_index(drop=True)
            train_enc = EncodedSplit.concat([train_enc, encode(added)]) if len(added) else train_enc
        else:
            train_enc = encode(augmented.reset_index(drop=True))
        train = augmented.reset_index(drop=True)

    test_enc = encode(test) if test is not None else None
    test_swap_enc = encode(swapped(test)) if test is not None and cfg.swap_views else None
    return PreparedData(
        train, dev, test, train_enc, dev_enc, test_enc, cache.hits, cache.misses, report, splits.warnings,
        dev_swap_enc, test_swap_enc,
    )
