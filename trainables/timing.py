"""Where a fit's time goes: the training steps apart from validation (and from warm-up, checkpoints, reports).

`FitTimer` is a Lightning callback. It times each training batch (forward, backward, optimizer step) and
each validation pass, and adds two figures to every validation's metrics: `train_samples_per_s`, the
training step rate so far (samples over the seconds spent in training steps only), and `val_seconds`,
that validation pass's seconds. It must come before the ValidationRecorder in the callbacks, so the
recorder and the hooks (Tune) see both.
"""

from __future__ import annotations

import time
from typing import Any

import pytorch_lightning as pl


class FitTimer(pl.Callback):
    def __init__(self) -> None:
        self.train_seconds = 0.0
        self.train_samples = 0
        self.validation_seconds = 0.0
        self.validations = 0
        self._t0 = 0.0
        self._v0 = 0.0

    @property
    def train_samples_per_second(self) -> float:
        return self.train_samples / self.train_seconds if self.train_seconds else 0.0

    def on_train_batch_start(self, trainer: pl.Trainer, module: pl.LightningModule, batch: Any, batch_idx: int) -> None:
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, trainer: pl.Trainer, module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self.train_seconds += time.perf_counter() - self._t0
        labels = batch.get("labels") if isinstance(batch, dict) else None
        self.train_samples += len(labels) if labels is not None else 0

    def on_validation_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self._v0 = time.perf_counter()

    def on_validation_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        seconds = time.perf_counter() - self._v0
        self.validation_seconds += seconds
        self.validations += 1
        last = getattr(module, "last_validation", None)
        if not trainer.sanity_checking and last:
            last["train_samples_per_s"] = round(self.train_samples_per_second, 2)
            last["val_seconds"] = round(seconds, 3)
