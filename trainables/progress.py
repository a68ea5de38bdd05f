"""In-epoch progress of a single `train.py` run when its output is a file: a line at most every N seconds.

On a terminal, Lightning's own bar does this job; in a log file a bar is thousands of carriage returns.
"""

from __future__ import annotations

import math
import time
from typing import Any

import pytorch_lightning as pl


def _duration(seconds: float) -> str:
    m, s = divmod(max(0, round(seconds)), 60)
    return f"{m}m{s:02d}s" if m else f"{s}s"


class PeriodicProgress(pl.Callback):
    def __init__(self, every_s: float = 30.0, printer=print) -> None:
        self.every_s = every_s
        self.printer = printer
        self._epoch_start = 0.0
        self._last = 0.0

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._epoch_start = self._last = time.monotonic()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        now = time.monotonic()
        if now - self._last < self.every_s:
            return
        self._last = now
        total = trainer.num_training_batches
        done = batch_idx + 1
        rate = done / max(now - self._epoch_start, 1e-9)
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        loss_text = f"  train_loss {float(loss):.4f}" if loss is not None else ""
        if isinstance(total, int) and total > 0 and math.isfinite(total):
            where = f"step {done}/{total} ({100 * done / total:.0f}%)"
            eta = f"  epoch ETA {_duration((total - done) / rate)}"
        else:
            where, eta = f"step {done}", ""
        epochs = f"/{trainer.max_epochs}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
        self.printer(f"[progress] epoch {trainer.current_epoch + 1}{epochs}  {where}  {rate:.2f} steps/s"
                     f"{loss_text}{eta}", flush=True)
