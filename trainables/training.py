"""One training run of the regressor, Ray-free: data -> token cache -> Lightning fit -> result.

`train()` returns its metrics, so tests call it directly on CPU with tiny limits; `tune/` wraps the same
function in a Ray trial by passing hooks that report to Tune.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from trainables.batching import make_loader, pad_fraction, shard_loader
from trainables.config import TrialConfig
from trainables.data import kfold_indices, load_splits
from trainables.metrics import METRIC, is_better
from trainables.tokens import EncodedSplit, TokenCache

log = logging.getLogger("sts_tune")


# --- data -----------------------------------------------------------------------------------------
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


def tokenizer_name(cfg: TrialConfig) -> str:
    return cfg.tokenizer or cfg.backbone


def prepare_data(cfg: TrialConfig, *, tokenizer=None) -> PreparedData:
    """Read, validate, preprocess, split, augment (train only) and encode through the token cache."""
    splits = load_splits(cfg.train_path, cfg.dev_path, cfg.test_path, cfg.data_format)
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
        return cache.get_or_encode(name, table, cfg.max_length, prep_key, tokenizer=tokenizer)

    if cfg.num_folds:
        # encode the pooled table once (its fingerprint does not depend on the fold), then slice it
        pool = pd.concat([train, dev], ignore_index=True)
        pool_enc = encode(pool)
        tr_idx, va_idx = kfold_indices(pool["label"].to_numpy(), cfg.num_folds, cfg.fold, cfg.fold_seed)
        train, dev = pool.iloc[tr_idx].reset_index(drop=True), pool.iloc[va_idx].reset_index(drop=True)
        train_enc, dev_enc = pool_enc.subset(tr_idx), pool_enc.subset(va_idx)
    else:
        train_enc, dev_enc = encode(train), encode(dev)

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
    return PreparedData(
        train, dev, test, train_enc, dev_enc, test_enc, cache.hits, cache.misses, report
    )


# --- hooks ----------------------------------------------------------------------------------------
CheckpointWriter = Callable[[Path], Path]


class TrainingHooks(Protocol):
    def on_validation(self, metrics: dict[str, float], improved: bool, write_checkpoint: CheckpointWriter) -> None:
        """Called after every validation; `write_checkpoint(dir)` saves weights + predictions there."""


@dataclass
class Resume:
    checkpoint: Path
    epoch: float
    global_step: int
    best_val_pearson: float


@dataclass
class TrainingResult:
    val_pearson: float
    best_epoch: float
    epochs: float
    steps: int
    seconds: float
    pad_fraction: float
    samples_per_second: float
    train_rows: int
    dev_rows: int
    history: list[dict[str, float]]
    config: dict[str, Any]
    cache_hits: int
    cache_misses: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _configure_torch(cfg: TrialConfig) -> None:
    import torch

    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)


def train(
    cfg: TrialConfig,
    hooks: TrainingHooks | None = None,
    *,
    data: PreparedData | None = None,
    resume: Resume | None = None,
    log_dir: str | Path | None = None,
    progress_bar: bool = False,
    trainer_overrides: dict[str, Any] | None = None,
    shard: tuple[int, int] | None = None,
    quiet: bool = False,
) -> TrainingResult:
    """Fit one trial; `hooks` see every validation.

    Distributed runs (trainables/ray_ddp.py) pass `trainer_overrides` (merged into the `pl.Trainer` kwargs;
    `callbacks` are appended) and `shard=(rank, world_size)`: this process then trains on every
    world_size-th batch of the epoch while validating on the whole dev set, so every rank computes the same
    dev Pearson. Which rank writes checkpoints is the hooks' choice.
    """
    import pytorch_lightning as pl
    import torch

    from trainables.checkpoint import load_weights, write_checkpoint
    from trainables.model import STSRegressor

    started = time.perf_counter()
    _configure_torch(cfg)
    if quiet:
        # many trials share one log stream: keep Lightning's per-fit banners out of it
        logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    data = data if data is not None else prepare_data(cfg)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)

    pad_to = cfg.max_length if cfg.padding == "max_length" else None
    bucket = cfg.bucket and pad_to is None
    start_epoch = 0
    if resume is not None:
        # a mid-epoch checkpoint restarts that epoch (with the checkpoint's weights)
        start_epoch = math.floor(resume.epoch + 1e-6)
    train_labels = data.train["label"].to_numpy(np.float32)
    dev_labels = data.dev["label"].to_numpy(np.float64)
    train_loader = make_loader(
        data.train_enc, train_labels, cfg.batch_size, train=True, seed=cfg.seed, bucket=bucket, pad_to=pad_to,
        start_epoch=start_epoch, limit_batches=cfg.limit_train_batches,
    )
    if shard is not None:
        train_loader = shard_loader(train_loader, *shard)
    dev_loader = make_loader(data.dev_enc, None, cfg.eval_batch_size, train=False, seed=cfg.seed, pad_to=pad_to)
    test_loader = (
        make_loader(data.test_enc, None, cfg.eval_batch_size, train=False, seed=cfg.seed, pad_to=pad_to)
        if data.test_enc is not None else None
    )
    epoch_batches = train_loader.batch_sampler.batches(start_epoch)
    pad = pad_fraction(data.train_enc.lengths, epoch_batches, pad_to)
    steps_per_epoch = max(1, math.ceil(len(epoch_batches) / cfg.accumulate_grad_batches))
    start_step = start_epoch * steps_per_epoch

    model = STSRegressor(cfg, steps_per_epoch=steps_per_epoch, start_epoch=start_epoch, start_step=start_step)
    if resume is not None:
        load_weights(model, resume.checkpoint)
    model.dev_labels = dev_labels

    history: list[dict[str, float]] = []
    best = {METRIC: resume.best_val_pearson if resume else None, "epoch": resume.epoch if resume else 0.0}

    class _Validation(pl.Callback):
        def on_validation_end(self, trainer: pl.Trainer, module: STSRegressor) -> None:
            if trainer.sanity_checking or not module.last_validation:
                return
            metrics = dict(module.last_validation)
            history.append(metrics)
            improved = is_better(metrics[METRIC], best[METRIC])
            if improved:
                best[METRIC], best["epoch"] = metrics[METRIC], metrics["epoch"]
            dev_pred = module.dev_predictions.copy()

            def writer(directory: Path) -> Path:
                test_pred = module.predict_loader(test_loader) if test_loader is not None else None
                return write_checkpoint(
                    directory, module, cfg.to_dict(), {**metrics}, data.dev, dev_pred, data.test, test_pred,
                    hf_config=module.hf_config,
                )

            if hooks is not None:
                hooks.on_validation(metrics, improved, writer)

    remaining = cfg.max_epochs - start_epoch
    seconds_fit = 0.0
    if remaining > 0:
        loggers: Any = False
        if log_dir is not None:
            from pytorch_lightning.loggers import CSVLogger

            loggers = [CSVLogger(str(log_dir), name="", version="")]
        trainer_kwargs: dict[str, Any] = dict(
            max_epochs=remaining,
            accelerator="auto",
            devices=1,
            precision=cfg.precision,
            gradient_clip_val=cfg.grad_clip or None,
            accumulate_grad_batches=cfg.accumulate_grad_batches,
            val_check_interval=1.0 / cfg.val_checks_per_epoch if cfg.val_checks_per_epoch > 1 else 1.0,
            num_sanity_val_steps=0,
            enable_checkpointing=False,
            enable_model_summary=False,
            enable_progress_bar=progress_bar,
            logger=loggers,
            callbacks=[_Validation()],
            deterministic=False,
        )
        if shard is not None:
            # Lightning cannot re-instantiate our batch sampler around a DistributedSampler; we shard it ourselves
            trainer_kwargs["use_distributed_sampler"] = False
        for key, value in (trainer_overrides or {}).items():
            trainer_kwargs[key] = [*trainer_kwargs["callbacks"], *value] if key == "callbacks" else value
        trainer = pl.Trainer(**trainer_kwargs)
        with warnings.catch_warnings():
            # our loaders are deliberately single-process: batches come from in-memory arrays
            warnings.filterwarnings("ignore", ".*does not have many workers.*")
            warnings.filterwarnings("ignore", ".*val_check_interval.*")
            warnings.filterwarnings("ignore", ".*LeafSpec.*")  # Lightning 2.6.6 vs torch 2.13, harmless
            fit_start = time.perf_counter()
            trainer.fit(model, train_dataloaders=train_loader, val_dataloaders=dev_loader)
            seconds_fit = time.perf_counter() - fit_start
        steps = start_step + trainer.global_step
    else:
        steps = start_step
    samples = sum(len(b) for b in epoch_batches) * max(remaining, 0)
    torch.set_grad_enabled(True)
    return TrainingResult(
        val_pearson=float(best[METRIC]) if best[METRIC] is not None else float("nan"),
        best_epoch=float(best["epoch"]),
        epochs=float(history[-1]["epoch"]) if history else float(start_epoch),
        steps=int(steps),
        seconds=round(time.perf_counter() - started, 2),
        pad_fraction=round(pad, 5),
        samples_per_second=round(samples / seconds_fit, 2) if seconds_fit else 0.0,
        train_rows=len(data.train),
        dev_rows=len(data.dev),
        history=history,
        config=cfg.to_dict(),
        cache_hits=data.cache_hits,
        cache_misses=data.cache_misses,
    )
