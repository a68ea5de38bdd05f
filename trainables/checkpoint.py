"""The checkpoint directory (see docs/experiment-format.md): weights-only state dict + config + predictions."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from trainables.fileio import file_digest, publishable

WEIGHTS = "weights.safetensors"
CONFIG = "config.json"
META = "meta.json"
BACKBONE_DIR = "backbone"
DEV_PREDICTIONS = "dev_predictions.csv"
TEST_PREDICTIONS = "test_predictions.csv"


def write_checkpoint(
    directory: str | Path,
    model: torch.nn.Module,
    config: dict[str, Any],
    meta: dict[str, Any],
    dev: pd.DataFrame,
    dev_predictions: np.ndarray,
    test: pd.DataFrame | None = None,
    test_predictions: np.ndarray | None = None,
    hf_config=None,
) -> Path:
    """Write into a staging folder beside `directory`, then rename: a crash never leaves half a checkpoint."""
    from safetensors.torch import save_model

    directory = Path(directory)
    with staged(directory) as stage:
        # weights only (no optimizer state): ~3x smaller than a Lightning checkpoint, enough to predict
        save_model(model, str(stage / WEIGHTS))
        (stage / CONFIG).write_text(json.dumps(config, indent=2, ensure_ascii=False))
        if hf_config is not None:
            hf_config.save_pretrained(stage / BACKBONE_DIR)
        pd.DataFrame({"id": dev["id"], "label": dev["label"], "prediction": dev_predictions}).to_csv(
            stage / DEV_PREDICTIONS, index=False
        )
        if test is not None and test_predictions is not None:
            test_df = pd.DataFrame({"id": test["id"], "prediction": test_predictions})
            if test["label"].notna().all():
                # a labelled test set: the label rides along so the ensemble can report (never select on) it
                test_df.insert(1, "label", test["label"])
            test_df.to_csv(stage / TEST_PREDICTIONS, index=False)
        write_meta(stage, meta)
    return directory


@contextmanager
def staged(directory: Path) -> Iterator[Path]:
    """A staging folder beside `directory`, renamed onto it when the block ends: a crash or a full disk never
    leaves half a checkpoint, and a reader sees the old one or the new one."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        yield stage
        publishable(stage)
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(stage, directory)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def write_meta(stage: Path, meta: dict[str, Any]) -> None:
    """meta.json, written last: it records what the prediction files must hold, so a reader can tell a damaged
    one (ensemble/verify.py)."""
    (stage / META).write_text(json.dumps({**meta, "predictions": prediction_digests(stage)}, indent=2))


def prediction_digests(directory: Path) -> dict[str, dict[str, Any]]:
    return {name: file_digest(directory / name) for name in (DEV_PREDICTIONS, TEST_PREDICTIONS)
            if (directory / name).is_file()}


def read_meta(directory: str | Path) -> dict[str, Any]:
    return json.loads((Path(directory) / META).read_text())


def read_config(directory: str | Path) -> dict[str, Any]:
    return json.loads((Path(directory) / CONFIG).read_text())


def load_weights(model: torch.nn.Module, directory: str | Path) -> None:
    from safetensors.torch import load_model

    load_model(model, str(Path(directory) / WEIGHTS), device=str(next(model.parameters()).device))
