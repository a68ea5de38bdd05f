"""Helpers for tests that run real searches: a micro space file over the small dataset."""

from __future__ import annotations

from pathlib import Path

import yaml


def write_micro_space(
    path: Path, backbone: Path, data: dict[str, Path], *, search: dict | None = None, max_epochs: int = 3,
    test: bool = True, batches: int = 4, **fixed,
) -> Path:
    space = {
        "description": "micro test space",
        "fixed": {
            "backbone": str(backbone), "random_init": True, "train_path": str(data["train"]),
            "dev_path": str(data["dev"]), "batch_size": 16, "eval_batch_size": 96,
            "limit_train_batches": batches, "num_threads": 1, **({"test_path": str(data["test"])} if test else {}),
            **fixed,
        },
        "search": search or {
            "lr": {"loguniform": [1.0e-4, 3.0e-3], "default": 1.0e-3},
            "head": {"choice": ["cls", "mean"], "default": "mean"},
        },
        "scheduler": {"max_epochs": max_epochs, "grace_period": 1, "reduction_factor": 3, "num_samples": 4},
    }
    path.write_text(yaml.safe_dump(space))
    return path
