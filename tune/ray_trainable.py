"""The Ray Tune trainable: one trial of the search, wrapping the Ray-free `trainables.training.train`.

One trial = one `trainables.training.train` call. Every validation is reported to Tune (`val_pearson`
and friends, with `epoch` as the scheduler's time axis); each improvement also carries a Tune checkpoint
(weights-only state dict + dev/test predictions). A retried, paused (HyperBand/PBT) or resumed trial
continues from `tune.get_checkpoint()`: the checkpoint's weights, epoch and learning-rate schedule position.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import ray
from ray import tune

from trainables.config import ALL_FOLDS, TrialConfig
from trainables.kfold import train_all_folds
from trainables.metrics import METRIC
from trainables.training import Resume, TrialStopped, train

# what each validation reports to Tune (METRIC first: the schedulers and the search rank by it)
REPORTED = (METRIC, "val_loss", "train_loss", "epoch", "lr", "global_step")

# Fault-injection hook for tests and chaos drills: with this set to a folder, each trial raises once,
# right after its first checkpoint, so retries from the checkpoint can be observed end to end.
FAIL_ONCE_ENV = "STS_TUNE_FAIL_ONCE_DIR"


class InjectedFailure(RuntimeError):
    pass


class TuneReporter:
    def __init__(self, trial_id: str, restored_epoch: float = 0.0) -> None:
        self.trial_id = trial_id
        # reported with every result so a retried/paused/exploited trial shows where it picked up
        self.restored_epoch = restored_epoch

    def on_validation(self, metrics: dict[str, float], improved: bool, write_checkpoint) -> None:
        report: dict[str, Any] = {k: metrics[k] for k in REPORTED}
        for key in ("test_pearson", "train_samples_per_s", "val_seconds"):  # test: never a scheduler input
            if key in metrics:
                report[key] = metrics[key]
        report["restored_epoch"] = self.restored_epoch
        report["node_id"] = ray.get_runtime_context().get_node_id()  # which machine ran it (multi-node)
        if improved:
            with tempfile.TemporaryDirectory(prefix="sts-ckpt-") as tmp:
                path = write_checkpoint(Path(tmp) / "checkpoint")
                tune.report(report, checkpoint=tune.Checkpoint.from_directory(str(path)))
        else:
            tune.report(report)
        maybe_inject_failure(self.trial_id)

    def should_stop(self) -> bool:
        """Tune has asked this trial to end (stopped by the scheduler; with reused workers the next trial waits
        for this one's thread, at most TUNE_FUNCTION_THREAD_TIMEOUT_S): end the fit at the next batch."""
        from ray.train._internal.session import get_session  # internal, 2.60: the function trial's session

        session = get_session()
        stop_event = getattr(session, "stop_event", None)
        return bool(stop_event is not None and stop_event.is_set())


def maybe_inject_failure(trial_id: str) -> None:
    """Raise once per trial (after its first report) when STS_TUNE_FAIL_ONCE_DIR is set."""
    fail_dir = os.environ.get(FAIL_ONCE_ENV, "")
    if not fail_dir:
        return
    marker = Path(fail_dir) / f"{trial_id}.failed"
    if not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text("injected failure after the first checkpoint\n")
        raise InjectedFailure(f"trial {trial_id}: injected failure ({FAIL_ONCE_ENV} is set)")


def _resume_from_checkpoint(local_dir: Path) -> Resume | None:
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as d:
        # as_directory may hand out a temporary download (s3://): keep our own copy for the whole run
        shutil.copytree(d, local_dir, dirs_exist_ok=True)
    return Resume.from_checkpoint(local_dir)


def train_sts(config: dict[str, Any]) -> None:
    cfg = TrialConfig.from_dict(dict(config), source="trial config")
    trial_id = tune.get_context().get_trial_id() or "trial"
    with tempfile.TemporaryDirectory(prefix="sts-resume-") as tmp:
        resume = _resume_from_checkpoint(Path(tmp) / "checkpoint")
        if resume is not None:
            print(f"[sts-tune] trial {trial_id} resumes from its checkpoint at epoch {resume.epoch} "
                  f"(val_pearson {resume.best_val_pearson:.4f})", flush=True)
        if cfg.fold == ALL_FOLDS:  # every fold in turn, reported once as one candidate (trainables/kfold.py)
            if resume is None:  # a unit's only checkpoint comes with its final report: nothing is left to do
                train_all_folds(cfg, TuneReporter(trial_id), quiet=True)
            return
        try:
            train(cfg, TuneReporter(trial_id, resume.epoch if resume else 0.0), resume=resume, quiet=True)
        except TrialStopped:
            return  # Tune has already stopped the trial: nothing more to report
