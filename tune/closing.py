"""The lines a search ends with: the top trials, the best one against the baselines, and what to run next."""

from __future__ import annotations

import importlib.util
import shlex
from typing import Any

import pandas as pd

from tune.results import format_top
from tune.terminal import MAX_WIDTH


def next_commands(exp: str, width: int = MAX_WIDTH - 2) -> list[str]:
    """The exact commands that continue from an experiment folder: ensemble, report, TensorBoard (the first two
    write into the folder by default). A path too long for one line is set once as $EXP."""
    lines: list[str] = []
    where = shlex.quote(exp)
    if len(where) > width - len("python ensemble/select.py --experiment "):
        lines.append(f"EXP={where}")
        where = '"$EXP"'
    lines += [f"python ensemble/select.py --experiment {where}", f"python tune/report.py --experiment {where}",
              f"tensorboard --logdir {where}"]
    if importlib.util.find_spec("tensorboard") is None:
        lines.append("(TensorBoard is not installed here: pip install tensorboard)")
    return lines


def print_closing(exp: str, board: pd.DataFrame, summary: dict[str, Any], baselines: dict[str, Any], *,
                  next_steps: bool = True) -> None:
    print("\nTop trials (val_pearson, best over every validation; test_pearson is never used to select):")
    print(format_top(board, 10, max_width=MAX_WIDTH))
    best_val, best_test = summary.get("best_val_pearson"), summary.get("best_test_pearson")
    scores = "no validation finished" if best_val is None else f"val_pearson {best_val:.4f}" + (
        f", test_pearson {best_test:.4f}" if best_test is not None else "")
    print(f"\nbest trial {summary.get('best_trial_id')}: {scores}; {summary['total_epochs']:g} epochs consumed by "
          f"{summary['num_trials']} trials in {summary['wall_seconds']:.0f}s")
    print_against_baselines(summary, baselines)
    print(f"experiment {exp}  (leaderboard.csv, summary.json, history.csv, one folder per trial)")
    if next_steps:  # an interrupted search is resumed first (tune/faults.py prints how)
        print("next (select.py writes ensemble/ and report.py report.html into the experiment folder):\n"
              + "\n".join(f"  {line}" for line in next_commands(exp)))


def print_against_baselines(summary: dict[str, Any], baselines: dict[str, Any]) -> None:
    """Say how far the best trial is above the no-training reference scores (or that it is below)."""
    from trainables.baselines import compare_line

    best_cfg = summary.get("best_config") or {}
    refs = baselines.get(best_cfg.get("backbone", ""), next(iter(baselines.values()), {}))
    if summary.get("best_val_pearson") is None or not refs:
        return
    print(compare_line("best trial", summary["best_val_pearson"], refs, "dev"))
    if summary.get("best_test_pearson") is not None:
        print(compare_line("best trial", summary["best_test_pearson"], refs, "test") + "  (test: not used to select)")
