"""Predict any competition-format CSV with a selected ensemble (re-runs the member checkpoints).

    python ensemble/predict.py --ensemble OUT/ensemble.json --input new.csv --output preds.csv

Loads each member with a non-zero weight from its checkpoint directory, one at a time (only one model in
memory), combines the predictions with the ensemble weights, then clips (and rounds, as select.py did) and
writes `id,target` atomically. torch is imported only here, and only when a member is loaded.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ensemble.outputs import csv_text, write_file_atomically
from ensemble.selection import add_round_argument, postprocess
from trainables.fileio import check_output
from trainables.registry import DATA_FORMATS


@dataclass(frozen=True)
class WeightedMember:
    trial_id: str
    checkpoint: Path
    weight: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.weight) and self.weight >= 0.0):
            raise ValueError(
                f"member {self.trial_id}: weight must be a finite number >= 0, got {self.weight}"
            )


@dataclass(frozen=True)
class EnsembleSpec:
    members: list[WeightedMember]
    decimals: int | None = None

    def __post_init__(self) -> None:
        if not any(m.weight > 0 for m in self.members):
            raise ValueError("the ensemble has no member with a positive weight")
        if self.decimals is not None and self.decimals < 0:
            raise ValueError(f"rounding must be >= 0 decimals, got {self.decimals}")


def read_ensemble(path: Path) -> EnsembleSpec:
    """The members, weights and rounding that ensemble/select.py wrote to ensemble.json.

    `path` may also be a folder: one holding ensemble.json, an experiment (a search's or `trainables/train.py`'s
    output: its best trial with a checkpoint alone), or a checkpoint directory (that model alone).
    """
    if path.is_dir():
        return _spec_of_folder(path)
    if not path.is_file():
        raise ValueError(f"{path} not found: run ensemble/select.py first, or pass its OUT/ensemble.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    members = data.get("members") if isinstance(data, dict) else None
    if not isinstance(members, list) or not members:
        raise ValueError(f"{path} has no 'members' list: was it written by ensemble/select.py?")
    parsed = []
    for i, m in enumerate(members):
        if not isinstance(m, dict) or not {"trial_id", "checkpoint", "weight"} <= m.keys():
            raise ValueError(f"{path}: members[{i}] needs trial_id, checkpoint and weight")
        try:
            weight = float(m["weight"])
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"{path}: member {m['trial_id']} has a non-numeric weight {m['weight']!r}"
            ) from exc
        # pooled ensembles name members EXPERIMENT/trial_id (ensemble/pool.py): shown so, as select.py showed them
        parsed.append(WeightedMember(str(m.get("name") or m["trial_id"]), Path(str(m["checkpoint"])), weight))
    settings = data.get("settings") or {}
    decimals = settings.get("round") if isinstance(settings, dict) else None
    return EnsembleSpec(parsed, None if decimals is None else int(decimals))


WEIGHTS = "weights.safetensors"
FOLDS_FILE = "folds.json"  # a K-fold unit's checkpoint (trainables/kfold.py): its fold models' mean


def _spec_of_folder(folder: Path) -> EnsembleSpec:
    from ensemble.experiment import LEADERBOARD, ExperimentError, read_leaderboard

    if (folder / "ensemble.json").is_file():
        return read_ensemble(folder / "ensemble.json")
    if (folder / WEIGHTS).is_file():
        return EnsembleSpec([WeightedMember(folder.name, folder, 1.0)])
    if (folder / LEADERBOARD).is_file():
        try:
            board = read_leaderboard(folder)
        except ExperimentError as exc:
            raise ValueError(str(exc)) from exc
        with_ckpt = board[board["checkpoint"] != ""]
        if with_ckpt.empty:
            raise ValueError(f"{folder / LEADERBOARD}: no trial has a checkpoint to predict with")
        best = with_ckpt.iloc[0]
        print(f"{folder} is an experiment: predicting with its best trial {best['trial_id']} alone "
              f"(val_pearson {best['val_pearson']}); ensemble/select.py --experiment {folder} picks an ensemble")
        return EnsembleSpec([WeightedMember(str(best["trial_id"]), Path(best["checkpoint"]), 1.0)])
    raise ValueError(f"{folder} holds no ensemble.json, leaderboard.csv or {WEIGHTS}: pass select.py's "
                     "OUT/ensemble.json, an experiment folder or a checkpoint folder")


def predict_table(spec: EnsembleSpec, table: pd.DataFrame, batch_size: int | None = None) -> np.ndarray:
    """Weighted mean of the members' raw predictions (before clipping) for every row of the table, on CPU."""
    from trainables.inference import load_checkpoint  # torch: only when something is predicted

    active = [m for m in spec.members if m.weight > 0]
    for m in active:  # fail before loading any model, not after the third one
        if not m.checkpoint.is_dir():
            raise ValueError(f"member {m.trial_id}: checkpoint directory {m.checkpoint} does not exist")
        if not (m.checkpoint / WEIGHTS).is_file() and not (m.checkpoint / FOLDS_FILE).is_file():
            raise ValueError(f"member {m.trial_id}: {m.checkpoint} has no {WEIGHTS} (nor the {FOLDS_FILE} of a unit)")
    total = np.zeros(len(table), dtype=np.float64)
    for m in active:
        predictor = load_checkpoint(m.checkpoint, device="cpu")
        pred = np.asarray(predictor.predict(table, batch_size=batch_size), dtype=np.float64).reshape(-1)
        del predictor  # one model in memory at a time
        if pred.shape != (len(table),):
            raise ValueError(f"member {m.trial_id}: {pred.size} predictions for {len(table)} rows")
        if not np.isfinite(pred).all():
            first = int(np.flatnonzero(~np.isfinite(pred))[0])
            raise ValueError(f"member {m.trial_id}: non-finite prediction for id {table['id'].iloc[first]!r}")
        total += m.weight * pred
        print(f"  {m.trial_id}: weight {m.weight:.4f}")
    return total / sum(m.weight for m in active)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ensemble/predict.py", description=__doc__.splitlines()[0])
    parser.add_argument("--ensemble", required=True, type=Path,
                        help="ensemble.json of select.py, or a folder: an ensemble's, an experiment's (its best "
                             "trial alone) or a checkpoint's")
    parser.add_argument(
        "--input", required=True, type=Path, help="CSV (id,source,sentence_1,sentence_2[,...])"
    )
    parser.add_argument("--output", required=True, type=Path, help="where to write id,target")
    parser.add_argument(
        "--format", default="auto", choices=["auto", *DATA_FORMATS.names()], help="input format (auto-detected)"
    )
    add_round_argument(parser, "round to this many decimals (default: as in ensemble.json)")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="pairs per inference batch, a plain row count (default: each member's own batching: eval_batch_size rows "
             "and at most eval_batch_tokens padded token slots per batch)",
    )
    parser.add_argument("--number-rows", action="store_true",
                        help="accept an input without ids: the rows are numbered as its format does (NAME_00000, …)")
    args = parser.parse_args(argv)
    try:
        check_output(args.output, is_file=True, min_free_mb=10)  # before any inference; leaves nothing behind
        if args.batch_size is not None and args.batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
        from trainables.data import read_table

        table = read_table(args.input, fmt=args.format, require_label=False)
        if table.attrs.get("numbered") and not args.number_rows:
            raise ValueError(
                f"{args.input}: no id column, so its rows would be submitted as {table['id'].iloc[0]!r}, …: add an "
                "id column (guid for the KLUE-STS CSV), or pass --number-rows to accept numbered rows"
            )
        spec = read_ensemble(args.ensemble)
        decimals = args.decimals if args.decimals is not None else spec.decimals
        if decimals is not None and decimals < 0:
            raise ValueError(f"--round must be >= 0 decimals, got {decimals}")
        active = sum(m.weight > 0 for m in spec.members)
        print(f"predicting {len(table)} rows of {args.input} with {active} member(s)")
        target = postprocess(predict_table(spec, table, args.batch_size), decimals)
        write_file_atomically(args.output, csv_text(pd.DataFrame({"id": table["id"], "target": target})))
    except ValueError as exc:  # DataError included: bad input, reported without a traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
