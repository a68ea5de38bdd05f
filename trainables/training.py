"""One training run of the regressor, Ray-free: prepared data -> loaders -> Lightning fit -> result.

`train()` returns its metrics, so tests call it directly on CPU with tiny limits; `tune/` wraps the same
function in a Ray trial by passing hooks that report to Tune. `train()` only orchestrates: the data comes
from `trainables.pipeline`, the model from `trainables.model`, and what happens at each validation (history,
best so far, checkpoint writer for the hooks) is the `ValidationRecorder` callback below.
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
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from trainables.batching import make_loader, pad_fraction, shard_loader
from trainables.checkpoint import load_weights, read_meta, write_checkpoint
from trainables.config import ALL_FOLDS, TrialConfig
from trainables.data import has_labels
from trainables.metrics import METRIC, is_better, pearson
from trainables.model import STSRegressor
from trainables.pipeline import PreparedData, prepare_data
from trainables.timing import FitTimer
from trainables.tta import average_views, views

log = logging.getLogger("sts_tune")

CheckpointWriter = Callable[[Path], Path]


class TrainingHooks(Protocol):
    def on_validation(self, metrics: dict[str, float], improved: bool, write_checkpoint: CheckpointWriter) -> None:
        """Called after every validation; `write_checkpoint(dir)` saves weights + predictions there.

        Hooks may also define `should_stop() -> bool`, asked after every training batch: True ends the fit
        there by raising `TrialStopped` (a scheduler stopped the trial; its worker is wanted for the next one)."""


class TrialStopped(Exception):
    """The hooks asked the fit to stop (see TrainingHooks); raised out of `train()`."""


class StopWhenAsked(pl.Callback):
    def __init__(self, should_stop: Callable[[], bool]) -> None:
        self.should_stop = should_stop

    def on_train_batch_end(self, trainer: pl.Trainer, module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if self.should_stop():
            raise TrialStopped("stopped by the hooks")


@dataclass
class Resume:
    checkpoint: Path
    epoch: float
    global_step: int
    best_val_pearson: float

    @classmethod
    def from_checkpoint(cls, directory: Path) -> Resume:
        """Where a checkpoint directory (trainables/checkpoint.py) left off: weights, epoch, step, best score."""
        meta = read_meta(directory)
        return cls(directory, float(meta["epoch"]), int(meta.get("global_step", 0)), float(meta[METRIC]))


@dataclass
class TrainingResult:
    val_pearson: float
    best_epoch: float
    test_pearson: float  # at the best validation, on a labelled test set (NaN without one); never used to select
    epochs: float
    steps: int
    seconds: float
    pad_fraction: float
    train_samples_per_second: float  # samples over the seconds of training steps only (no validation, warm-up…)
    validation_seconds: float  # all validation passes of the fit
    validations: int
    fit_seconds: float  # the whole trainer.fit: steps, validations, test predictions, checkpoints, reports
    train_rows: int
    dev_rows: int
    history: list[dict[str, float]]
    config: dict[str, Any]
    cache_hits: int
    cache_misses: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Loaders:
    train: DataLoader
    dev: DataLoader
    test: DataLoader | None
    epoch_batches: list[list[int]]  # the first trained epoch's batches (pad fraction, samples/s)
    steps_per_epoch: int


class ValidationRecorder(pl.Callback):
    """After each validation: record the metrics, keep the best (trainables.metrics.is_better), and hand the
    hooks a writer that saves weights + dev/test predictions (test predicted at improvements only).

    A labelled test set is scored (`test_pearson`) at each improvement, for the record: selection, early
    stopping and ranking never read it."""

    def __init__(
        self, cfg: TrialConfig, data: PreparedData, hooks: TrainingHooks | None, test_loader: DataLoader | None,
        resume: Resume | None,
    ) -> None:
        self.cfg, self.data, self.hooks, self.test_loader = cfg, data, hooks, test_loader
        self.history: list[dict[str, float]] = []
        self.best_score: float | None = resume.best_val_pearson if resume else None
        self.best_epoch: float = resume.epoch if resume else 0.0
        self.best_test: float = math.nan
        self.test_labels = data.test["label"].to_numpy(np.float64) if has_labels(data.test) else None

    def on_validation_end(self, trainer: pl.Trainer, module: STSRegressor) -> None:
        if trainer.sanity_checking or not module.last_validation:
            return
        metrics = dict(module.last_validation)
        improved = is_better(metrics[METRIC], self.best_score)
        test_pred = None
        if improved:
            self.best_score, self.best_epoch = metrics[METRIC], metrics["epoch"]
            if self.test_loader is not None:
                test_pred = average_views(module.predict_loader(self.test_loader), len(self.data.test))
                if self.test_labels is not None:
                    metrics["test_pearson"] = self.best_test = pearson(test_pred, self.test_labels)
        self.history.append(metrics)
        dev_pred = module.dev_predictions.copy()
        data, cfg = self.data, self.cfg

        def writer(directory: Path) -> Path:
            return write_checkpoint(
                directory, module, cfg.to_dict(), {**metrics}, data.dev, dev_pred, data.test, test_pred,
                hf_config=module.hf_config,
            )

        if self.hooks is not None:
            self.hooks.on_validation(metrics, improved, writer)


def make_loaders(
    cfg: TrialConfig, data: PreparedData, start_epoch: int, shard: tuple[int, int] | None
) -> Loaders:
    pad_to = cfg.max_length if cfg.padding == "max_length" else None
    train_loader = make_loader(
        data.train_enc, data.train["label"].to_numpy(np.float32), cfg.batch_size, train=True, seed=cfg.seed,
        bucket=cfg.bucket and pad_to is None, pad_to=pad_to, start_epoch=start_epoch,
        limit_batches=cfg.limit_train_batches,
    )
    if shard is not None:
        train_loader = shard_loader(train_loader, *shard)

    def inference(enc) -> DataLoader:
        return make_loader(enc, None, cfg.eval_batch_size, train=False, seed=cfg.seed, pad_to=pad_to,
                           max_tokens=cfg.eval_batch_tokens)

    epoch_batches = train_loader.batch_sampler.batches(start_epoch)
    return Loaders(
        train=train_loader,
        dev=inference(views(data.dev_enc, data.dev_swap_enc)),
        test=inference(views(data.test_enc, data.test_swap_enc)) if data.test_enc is not None else None,
        epoch_batches=epoch_batches,
        steps_per_epoch=max(1, math.ceil(len(epoch_batches) / cfg.accumulate_grad_batches)),
    )


def trainer_kwargs(
    cfg: TrialConfig, epochs: int, recorder: ValidationRecorder, *, log_dir: str | Path | None, progress_bar: bool,
    overrides: dict[str, Any] | None, sharded: bool, timer: FitTimer | None = None,
) -> dict[str, Any]:
    """The `pl.Trainer` arguments of a trial; `overrides` replace keys, except `callbacks`, which are appended.
    A `timer` goes before the recorder, so each validation's metrics carry its figures."""
    loggers: Any = False
    if log_dir is not None:
        from pytorch_lightning.loggers import CSVLogger

        loggers = [CSVLogger(str(log_dir), name="", version="")]
    kwargs: dict[str, Any] = dict(
        max_epochs=epochs,
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
        callbacks=[timer, recorder] if timer is not None else [recorder],
        deterministic=False,
    )
    if sharded:
        # Lightning cannot re-instantiate our batch sampler around a DistributedSampler; we shard it ourselves
        kwargs["use_distributed_sampler"] = False
    for key, value in (overrides or {}).items():
        kwargs[key] = [*kwargs["callbacks"], *value] if key == "callbacks" else value
    return kwargs


def fit(trainer: pl.Trainer, model: STSRegressor, loaders: Loaders) -> float:
    """Run the fit; returns its seconds."""
    with warnings.catch_warnings():
        # our loaders are deliberately single-process: batches come from in-memory arrays
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        warnings.filterwarnings("ignore", ".*val_check_interval.*")
        warnings.filterwarnings("ignore", ".*LeafSpec.*")  # Lightning 2.6.6 vs torch 2.13, harmless
        start = time.perf_counter()
        trainer.fit(model, train_dataloaders=loaders.train, val_dataloaders=loaders.dev)
        return time.perf_counter() - start


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

    Distributed runs (tune/ray_ddp.py) pass `trainer_overrides` (merged into the `pl.Trainer` kwargs;
    `callbacks` are appended) and `shard=(rank, world_size)`: this process then trains on every
    world_size-th batch of the epoch while validating on the whole dev set, so every rank computes the same
    dev Pearson. Which rank writes checkpoints is the hooks' choice.
    """
    if cfg.fold == ALL_FOLDS:
        raise ValueError(f"fold={ALL_FOLDS} trains every fold: call trainables.kfold.train_all_folds, not train()")
    started = time.perf_counter()
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    if quiet:
        # many trials share one log stream: keep Lightning's per-fit banners out of it
        logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    data = data if data is not None else prepare_data(cfg)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)

    # a mid-epoch checkpoint restarts that epoch (with the checkpoint's weights)
    start_epoch = math.floor(resume.epoch + 1e-6) if resume is not None else 0
    loaders = make_loaders(cfg, data, start_epoch, shard)
    start_step = start_epoch * loaders.steps_per_epoch
    model = STSRegressor(
        cfg, steps_per_epoch=loaders.steps_per_epoch, start_epoch=start_epoch, start_step=start_step
    )
    if resume is not None:
        load_weights(model, resume.checkpoint)
    model.dev_labels = data.dev["label"].to_numpy(np.float64)
    recorder = ValidationRecorder(cfg, data, hooks, loaders.test, resume)

    remaining = cfg.max_epochs - start_epoch
    seconds_fit, steps, timer = 0.0, start_step, FitTimer()
    if remaining > 0:
        overrides = dict(trainer_overrides or {})
        if callable(getattr(hooks, "should_stop", None)):
            overrides["callbacks"] = [*overrides.get("callbacks", []), StopWhenAsked(hooks.should_stop)]
        trainer = pl.Trainer(**trainer_kwargs(
            cfg, remaining, recorder, log_dir=log_dir, progress_bar=progress_bar, overrides=overrides,
            sharded=shard is not None, timer=timer,
        ))
        seconds_fit = fit(trainer, model, loaders)
        steps = start_step + trainer.global_step
    torch.set_grad_enabled(True)

    history = recorder.history
    pad_to = cfg.max_length if cfg.padding == "max_length" else None
    return TrainingResult(
        val_pearson=float(recorder.best_score) if recorder.best_score is not None else float("nan"),
        best_epoch=float(recorder.best_epoch),
        test_pearson=float(recorder.best_test),
        epochs=float(history[-1]["epoch"]) if history else float(start_epoch),
        steps=int(steps),
        seconds=round(time.perf_counter() - started, 2),
        pad_fraction=round(pad_fraction(data.train_enc.part_lengths, loaders.epoch_batches, pad_to), 5),
        train_samples_per_second=round(timer.train_samples_per_second, 2),
        validation_seconds=round(timer.validation_seconds, 3),
        validations=timer.validations,
        fit_seconds=round(seconds_fit, 2),
        train_rows=len(data.train),
        dev_rows=len(data.dev),
        history=history,
        config=cfg.to_dict(),
        cache_hits=data.cache_hits,
        cache_misses=data.cache_misses,
    )
