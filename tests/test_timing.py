from __future__ import annotations

import math

import pytest

from trainables.training import TrialStopped, train


class Calls:
    def __init__(self, stop_after: int | None = None) -> None:
        self.metrics: list[dict[str, float]] = []
        self.asked = 0
        self.stop_after = stop_after

    def on_validation(self, metrics, improved, write_checkpoint):
        self.metrics.append(dict(metrics))

    def should_stop(self) -> bool:
        self.asked += 1
        return self.stop_after is not None and self.asked > self.stop_after


def test_step_rate_and_validation_time_are_reported_apart(micro_config):
    calls = Calls()
    r = train(micro_config(max_epochs=2, limit_train_batches=4, val_checks_per_epoch=2), calls)
    assert r.validations == 4 == len(calls.metrics)
    assert calls.asked == 8  # the hooks are asked after every training batch
    for m in calls.metrics:
        assert m["train_samples_per_s"] > 0 and m["val_seconds"] > 0
    assert sum(m["val_seconds"] for m in calls.metrics) == pytest.approx(r.validation_seconds, abs=0.01)
    assert 0 < r.validation_seconds < r.fit_seconds <= r.seconds
    assert r.train_samples_per_second > 0 and math.isfinite(r.train_samples_per_second)
    assert "samples_per_second" not in r.to_dict()  # samples over the whole fit mixed steps with validation


def test_hooks_can_stop_the_fit_at_the_next_batch(micro_config):
    calls = Calls(stop_after=1)
    with pytest.raises(TrialStopped):
        train(micro_config(max_epochs=2, limit_train_batches=4, val_checks_per_epoch=2), calls)
    assert calls.asked == 2 and calls.metrics == []  # stopped after the second batch, before any validation
