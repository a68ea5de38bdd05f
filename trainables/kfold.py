"""K-fold as a unit (`num_folds: K, fold: -1`): one config trained on every fold becomes ONE candidate.

`train_all_folds` runs `trainables.training.train` once per fold (fold 0..K-1 of train+dev, the split of
`trainables.data.kfold_indices`, the same for every config of a search), keeps each fold's best checkpoint,
and hands the hooks one result: `val_pearson` is the Pearson of the out-of-fold predictions, which cover every
train+dev row once, and the test prediction is the mean of the K fold models'. The checkpoint it writes is a
folder of the usual prediction files (docs/experiment-format.md) with the K fold checkpoints inside
(`fold_0/` …, listed in folds.json), so the ensemble selects over such candidates on the out-of-fold rows and
`ensemble/predict.py` averages the fold models (`load_unit`). Ray-free, like the rest of trainables/.

Costs K trainings per trial, reported once at the end (schedulers see one result at max_epochs: no early
stopping inside a unit; a failed unit restarts from its first fold).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trainables.checkpoint import CONFIG, DEV_PREDICTIONS, TEST_PREDICTIONS, staged, write_meta
from trainables.config import ALL_FOLDS, TrialConfig
from trainables.metrics import METRIC, pearson

FOLDS_FILE = "folds.json"


class _KeepBest:
    def __init__(self, out: Path) -> None:
        self.out, self.written = out, False

    def on_validation(self, metrics: dict[str, float], improved: bool, write_checkpoint) -> None:
        if improved:
            write_checkpoint(self.out)
            self.written = True


def is_unit(directory: str | Path) -> bool:
    return (Path(directory) / FOLDS_FILE).is_file()


def fold_dirs(directory: str | Path) -> list[Path]:
    """The fold checkpoints of a unit checkpoint, in fold order."""
    directory = Path(directory)
    data = json.loads((directory / FOLDS_FILE).read_text())
    folds = data.get("folds") if isinstance(data, dict) else None
    if not isinstance(folds, list) or not folds:
        raise ValueError(f"{directory / FOLDS_FILE}: no 'folds' list")
    return [directory / str(f) for f in folds]


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"id": str}, keep_default_na=False)


def train_all_folds(cfg: TrialConfig, hooks: Any = None, *, quiet: bool = False) -> dict[str, Any]:
    """Train `cfg` on each of its `num_folds` folds; report the unit once to `hooks`; return its metrics."""
    from trainables.training import train  # torch and Lightning: only when something is trained

    if cfg.fold != ALL_FOLDS or cfg.num_folds < 2:
        raise ValueError(f"train_all_folds needs num_folds >= 2 and fold={ALL_FOLDS}, got {cfg.num_folds}/{cfg.fold}")
    with tempfile.TemporaryDirectory(prefix="sts-folds-") as tmp:
        results, devs, tests = [], [], []
        for fold in range(cfg.num_folds):
            keep = _KeepBest(Path(tmp) / f"fold_{fold}")
            results.append(train(cfg.replace(fold=fold), keep, quiet=quiet))
            if not keep.written:
                raise RuntimeError(f"fold {fold} of {cfg.num_folds} never validated: no out-of-fold predictions")
            devs.append(_read(keep.out / DEV_PREDICTIONS))
            if (keep.out / TEST_PREDICTIONS).is_file():
                tests.append(_read(keep.out / TEST_PREDICTIONS))
        oof = pd.concat(devs, ignore_index=True)
        if oof["id"].duplicated().any():
            raise RuntimeError("the folds' validation rows overlap: out-of-fold predictions would repeat rows")
        y, p = oof["label"].to_numpy(np.float64), oof["prediction"].to_numpy(np.float64)
        test = None
        if len(tests) == cfg.num_folds:
            test = tests[0].drop(columns="prediction")
            test["prediction"] = np.mean([t["prediction"].to_numpy(np.float64) for t in tests], axis=0)
        metrics: dict[str, Any] = {
            METRIC: pearson(p, y),
            "val_loss": float(np.mean((p - y) ** 2)),
            "train_loss": float(np.nanmean([r.history[-1].get("train_loss", np.nan) for r in results])),
            "epoch": float(cfg.max_epochs),
            "lr": 0.0,
            "global_step": int(sum(r.steps for r in results)),
            "fold_val_pearson": [r.val_pearson for r in results],
            "seconds": float(sum(r.seconds for r in results)),
        }
        if test is not None and "label" in test:
            metrics["test_pearson"] = pearson(test["prediction"].to_numpy(np.float64),
                                              test["label"].to_numpy(np.float64))
        if not np.isfinite(metrics[METRIC]):
            metrics[METRIC] = 0.0  # collapsed predictions: schedulers need a number (as STSRegressor does)

        def writer(directory: Path) -> Path:
            return write_unit(Path(directory), Path(tmp), cfg, metrics, oof, test)

        if hooks is not None:
            hooks.on_validation(metrics, True, writer)
    return metrics


def write_unit(directory: Path, folds_root: Path, cfg: TrialConfig, metrics: dict[str, Any], oof: pd.DataFrame,
               test: pd.DataFrame | None) -> Path:
    """The unit checkpoint, staged beside `directory` and renamed into place (trainables/checkpoint.staged)."""
    with staged(directory) as stage:
        names = [f"fold_{i}" for i in range(cfg.num_folds)]
        for name in names:
            shutil.copytree(folds_root / name, stage / name)
        (stage / FOLDS_FILE).write_text(json.dumps({"num_folds": cfg.num_folds, "folds": names}, indent=2))
        (stage / CONFIG).write_text(json.dumps(cfg.to_dict(), indent=2, ensure_ascii=False))
        oof[["id", "label", "prediction"]].to_csv(stage / DEV_PREDICTIONS, index=False)
        if test is not None:
            test.to_csv(stage / TEST_PREDICTIONS, index=False)
        write_meta(stage, metrics)  # last, with the prediction files' rows and hashes, as a trial checkpoint's
    return directory


@dataclass
class UnitPredictor:
    """The K fold models of a unit checkpoint; `predict` is their mean (one model loaded at a time)."""

    folds: list[Path]
    device: str = "cpu"

    def predict(self, table: pd.DataFrame, batch_size: int | None = None) -> np.ndarray:
        from trainables.inference import load_checkpoint

        total = np.zeros(len(table), dtype=np.float64)
        for fold in self.folds:
            predictor = load_checkpoint(fold, device=self.device)
            total += np.asarray(predictor.predict(table, batch_size=batch_size), dtype=np.float64)
            del predictor
        return total / len(self.folds)


def load_unit(directory: str | Path, device: str = "cpu") -> UnitPredictor:
    return UnitPredictor(fold_dirs(directory), device)
