"""In-epoch progress lines of a single training run (trainables/progress.py) on a real micro fit."""

from __future__ import annotations

import re

from trainables.progress import PeriodicProgress
from trainables.training import train


def test_progress_lines_count_steps_within_the_epoch(micro_config):
    lines: list[str] = []
    progress = PeriodicProgress(every_s=0.0, printer=lambda text, flush=True: lines.append(text))
    train(micro_config(max_epochs=2, limit_train_batches=3), trainer_overrides={"callbacks": [progress]})
    assert len(lines) == 6
    assert lines[0].startswith("[progress] epoch 1/2  step 1/3 (33%)")
    assert lines[-1].startswith("[progress] epoch 2/2  step 3/3 (100%)")
    assert all(re.search(r"steps/s  train_loss \d+\.\d{4}  epoch ETA \d+s$", line) for line in lines)


def test_progress_is_rate_limited(micro_config):
    lines: list[str] = []
    progress = PeriodicProgress(every_s=3600.0, printer=lambda text, flush=True: lines.append(text))
    train(micro_config(limit_train_batches=3), trainer_overrides={"callbacks": [progress]})
    assert lines == []
