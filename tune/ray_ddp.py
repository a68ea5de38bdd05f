"""`--workers-per-trial N`: one Tune trial trained with DDP by N Ray Train workers (Train V2).

The Tune trial (`train_sts_ddp`) only coordinates: it launches a `TorchTrainer` whose workers each run
`trainables.training.train` under Lightning DDP (`RayDDPStrategy` + `RayLightningEnvironment`; gloo on CPU,
nccl on GPU). Every rank trains on its share of each epoch's batches and validates on the whole dev set, so
all ranks compute the same dev Pearson; rank 0 alone writes the checkpoint, in the same directory format as
a single-process trial (docs/experiment-format.md).

Each validation travels worker -> `ray.train.report` (rank 0 attaches the checkpoint, Train uploads it) ->
Train controller -> a queue -> this trial -> `tune.report(..., checkpoint=...)`. Forwarding the checkpoint
to Tune (rather than only its path, as `ray.tune.integration.ray_train.TuneReportCallback` does) keeps
schedulers, retries, `--resume` and the leaderboard identical for DDP and single-process trials: a retried
trial gets `tune.get_checkpoint()` and hands it to its new workers.
"""

from __future__ import annotations

import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import ray
import ray.train
from ray import tune
from ray.train.lightning import RayDDPStrategy, RayLightningEnvironment, prepare_trainer
from ray.train.v2.api.callback import UserCallback
from ray.util.queue import Empty, Queue

from trainables.config import ALL_FOLDS, ConfigError, TrialConfig
from trainables.training import Resume, train
from tune.ray_trainable import REPORTED, maybe_inject_failure

# ray.train.lightning prefers `lightning.pytorch` when that package is installed; its strategy classes would
# then not fit our `pytorch_lightning.Trainer`.
if not issubclass(RayDDPStrategy, pl.strategies.DDPStrategy):
    raise ImportError(
        "ray.train.lightning was built on the `lightning` package but sts-tune trains with `pytorch_lightning`: "
        "uninstall `lightning` (pip uninstall lightning) so both use the same namespace"
    )


# --- on each Ray Train worker ------------------------------------------------------------------------
class _RankReporter:
    """Training hooks of one DDP rank: every rank reports (Train's report is a barrier), rank 0 checkpoints."""

    def __init__(self, rank: int, restored_epoch: float) -> None:
        self.rank = rank
        self.restored_epoch = restored_epoch

    def on_validation(self, metrics: dict[str, float], improved: bool, write_checkpoint) -> None:
        report: dict[str, Any] = {k: metrics[k] for k in REPORTED}
        if "test_pearson" in metrics:
            report["test_pearson"] = metrics["test_pearson"]
        report["restored_epoch"] = self.restored_epoch
        report["node_id"] = ray.get_runtime_context().get_node_id()
        if improved and self.rank == 0:
            with tempfile.TemporaryDirectory(prefix="sts-ckpt-") as tmp:
                path = write_checkpoint(Path(tmp) / "checkpoint")
                # SYNC upload: the files are on storage before the temporary folder goes away
                ray.train.report(report, checkpoint=ray.train.Checkpoint.from_directory(str(path)))
        else:
            ray.train.report(report)


class _CheckRayTrainer(pl.Callback):
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        prepare_trainer(trainer)  # fails fast if the strategy or cluster environment is not Ray's


def _local_resume(checkpoint: tune.Checkpoint | None, scratch: Path) -> Resume | None:
    if checkpoint is None:
        return None
    local = scratch / "resume"
    # every worker needs the weights; on s3:// storage this downloads them to the worker's node
    checkpoint.to_directory(str(local))
    return Resume.from_checkpoint(local)


def _train_worker(loop_config: dict[str, Any]) -> None:
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    cfg = TrialConfig.from_dict(loop_config["config"], source="trial config")
    with tempfile.TemporaryDirectory(prefix="sts-ddp-") as tmp:
        resume = _local_resume(loop_config["checkpoint"], Path(tmp))
        overrides = {
            "strategy": RayDDPStrategy(),
            "plugins": [RayLightningEnvironment()],
            "accelerator": "auto",
            "devices": "auto",
            "callbacks": [_CheckRayTrainer()],
        }
        hooks = _RankReporter(rank, resume.epoch if resume else 0.0)
        train(cfg, hooks, resume=resume, trainer_overrides=overrides, shard=(rank, world))


# --- on the Train controller -------------------------------------------------------------------------
class _ForwardToTrial(UserCallback):
    """Hands rank 0's metrics and the persisted checkpoint of every report to the Tune trial, with a handle
    to this controller so the trial can abort the run when it ends first."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue

    def after_report(self, run_context, metrics: list[dict[str, Any]], checkpoint: ray.train.Checkpoint | None):
        self.queue.put((dict(metrics[0]), checkpoint, ray.get_runtime_context().current_actor))


# --- the Tune trial ----------------------------------------------------------------------------------
def _train_storage() -> tuple[str, Any]:
    """The trial's folder on the experiment storage: Train uploads checkpoints there (shared by all nodes)."""
    from ray.train._internal.session import get_session

    storage = get_session().storage
    return storage.trial_fs_path, storage.storage_filesystem


class _TrialForwarder:
    def __init__(self, trial_id: str) -> None:
        self.trial_id = trial_id

    def forward(self, metrics: dict[str, Any], checkpoint: ray.train.Checkpoint | None) -> None:
        if checkpoint is not None:
            tune.report(metrics, checkpoint=tune.Checkpoint(path=checkpoint.path, filesystem=checkpoint.filesystem))
            try:
                # Tune copied it into the trial's checkpoint folder; Train's copy would only double the disk use
                checkpoint.filesystem.delete_dir(checkpoint.path)
            except OSError:
                pass  # the run folder is removed at the end anyway
        else:
            tune.report(metrics)
        maybe_inject_failure(self.trial_id)


def train_sts_ddp(
    config: dict[str, Any], num_workers: int = 2, cpus_per_worker: float = 1.0, gpus_per_worker: float = 0.0
) -> None:
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    cfg = TrialConfig.from_dict(dict(config), source="trial config")
    if cfg.fold == ALL_FOLDS:
        raise ConfigError(f"fold={ALL_FOLDS} (all folds as one candidate) runs in one process: no --workers-per-trial")
    trial_id = tune.get_context().get_trial_id() or "trial"
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        print(f"[sts-tune] trial {trial_id} resumes its {num_workers} DDP workers from {checkpoint.path}", flush=True)
    use_gpu = gpus_per_worker > 0
    storage_path, filesystem = _train_storage()
    run_name = f"ddp-{uuid.uuid4().hex[:8]}"  # a fresh Train run per attempt: Tune, not Train, owns restoring
    queue = Queue(actor_options={"num_cpus": 0})
    trainer = TorchTrainer(
        _train_worker,
        train_loop_config={"config": cfg.to_dict(), "checkpoint": checkpoint},
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        scaling_config=ScalingConfig(
            num_workers=num_workers, use_gpu=use_gpu,
            resources_per_worker={"CPU": cpus_per_worker, **({"GPU": gpus_per_worker} if use_gpu else {})},
        ),
        run_config=RunConfig(
            name=run_name, storage_path=storage_path, storage_filesystem=filesystem,
            # a failed worker fails the trial; Tune retries it from its last checkpoint (--max-failures)
            failure_config=FailureConfig(max_failures=0),
            callbacks=[_ForwardToTrial(queue)],
        ),
    )
    errors: list[Exception] = []

    def fit() -> None:
        try:
            trainer.fit()
        except Exception as e:  # re-raised in the trial's thread below
            errors.append(e)

    # fit() blocks until training ends, while tune.report must be called from this thread as results arrive
    runner = threading.Thread(target=fit, name=f"ray-train-{trial_id}", daemon=True)
    runner.start()
    forwarder = _TrialForwarder(trial_id)
    controller = None
    try:
        while runner.is_alive():
            try:
                metrics, persisted, controller = queue.get(timeout=0.5)
            except Empty:
                continue
            forwarder.forward(metrics, persisted)
        # fit() has returned, so every report it made is already queued
        while True:
            try:
                metrics, persisted, controller = queue.get_nowait()
            except Empty:
                break
            forwarder.forward(metrics, persisted)
        if errors:
            raise errors[0]
    finally:
        if runner.is_alive() and controller is not None:
            # The trial ends before its Train run: a scheduler stopped or paused it (SystemExit out of
            # tune.report) or a report raised. Abort the run so its workers' placement group is released
            # now; a controller that merely dies with this actor leaves it to Train's cleaner actor, which
            # needs the dashboard's state API and meanwhile blocks the retry from getting its workers.
            _abort(controller)
            runner.join(timeout=60)
        queue.shutdown(force=True)
        try:
            filesystem.delete_dir(f"{storage_path.rstrip('/')}/{run_name}")
        except OSError:
            pass  # Train's run folder is bookkeeping only (its checkpoints were handed to Tune)


def _abort(controller: Any) -> None:
    from ray.exceptions import GetTimeoutError, RayActorError

    try:
        ray.get(controller.abort.remote(), timeout=60)
    except RayActorError:
        pass  # abort() ends the controller's process: that is the expected answer
    except GetTimeoutError:
        print("[sts-tune] the Ray Train run did not abort within 60s; its workers go with this trial", flush=True)
