"""The quality table of a finished search + ensemble, from its files (bench/RESULTS.md, README).

    python bench/quality_table.py EXPERIMENT_DIR ENSEMBLE_DIR

Rows: the no-training reference scores, the space's default configuration (the first trial), the best trial
by dev Pearson, and the chosen ensemble; columns: dev (used for selection) and test (never used).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from trainables.space import load_space


def main(exp: Path, ens: Path) -> str:
    summary = json.loads((exp / "summary.json").read_text())
    board = pd.read_csv(exp / "leaderboard.csv")
    ensemble = json.loads((ens / "ensemble.json").read_text())
    rows = []
    for backbone, scores in (summary.get("baselines") or {}).items():
        for name, s in scores.items():
            rows.append((f"{name} ({Path(backbone).name}, no training)", s.get("dev"), s.get("test")))
    defaults = load_space(summary["space"]).search
    is_default = pd.Series(True, index=board.index)
    for knob, dist in defaults.items():
        col = board[f"config/{knob}"]
        is_default &= col.astype(str) == str(dist.default) if isinstance(dist.default, str) else (
            (col.astype(float) - float(dist.default)).abs() < 1e-12)
    if is_default.any():  # the space's default point, the search's first trial
        default = board[is_default].iloc[0]
        rows.append((f"default config (trial {default['trial_id']}, {default['epochs_run']:g} epochs)",
                     default["val_pearson"], default["test_pearson"]))
    best = board.iloc[0]
    rows.append((f"best trial by dev ({best['trial_id']}, {best['epochs_run']:g} epochs)", best["val_pearson"],
                 best["test_pearson"]))
    members = len(ensemble["members"])
    rows.append((f"ensemble ({ensemble['method']}, {members} member(s))", ensemble["dev_pearson_submitted"],
                 ensemble.get("test_pearson")))
    lines = ["| | dev Pearson (selection) | test Pearson (never used) |", "|---|---:|---:|"]
    lines += [f"| {n} | {d:.4f} | {t:.4f} |" if t is not None else f"| {n} | {d:.4f} | - |" for n, d, t in rows]
    lines.append("")
    lines.append(f"search: {summary['num_trials']} trials, {summary['total_epochs']:g} epochs in all, "
                 f"{summary['wall_seconds']:.0f} s wall; trials by status {summary['trials_by_status']}")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    print(main(Path(sys.argv[1]), Path(sys.argv[2])))
