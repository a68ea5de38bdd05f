"""Scores the search never selected on: the labelled test set's Pearson and the no-training reference scores.

Both come from the experiment directory when present (docs/experiment-format.md): `test_pearson` in
leaderboard.csv, `best_test_pearson`/`test_note`/`baselines` in summary.json, `test_pearson*` in ensemble.json.
Older experiments lack them: every helper here then returns nothing and the page shows what it always showed.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

import numpy as np

from tune.reporting.markup import Cell, fmt_score, table
from tune.reporting.read import Experiment

NOT_USED = "not used for selection"
TEST = "test_pearson"
SPLITS = ("dev", "test")
DESCRIBE = {
    "char_bigram_overlap": "character-bigram overlap of the two sentences",
    "zero_shot_cosine": "the untrained backbone's mean-pooled cosine",
}


def number(value: Any) -> float | None:
    """A finite float, else None (missing keys, null, NaN, text)."""
    if isinstance(value, bool):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def has_test_column(exp: Experiment) -> bool:
    """leaderboard.csv has a test_pearson column with at least one number (hidden when all NaN)."""
    return TEST in exp.board.columns and bool(np.isfinite(exp.board[TEST].to_numpy(dtype=float)).any())


def best_val(exp: Experiment) -> float | None:
    best = exp.best_index
    return None if best is None else number(exp.board["val_pearson"].iloc[best])


def best_test(exp: Experiment) -> float | None:
    """test_pearson of the trial selected by val_pearson (never the highest test_pearson: that would select)."""
    best = exp.best_index
    if best is not None and TEST in exp.board.columns:
        return number(exp.board[TEST].iloc[best])
    return number((exp.summary or {}).get("best_test_pearson")) if best is not None else None


def test_note(data: dict[str, Any] | None) -> str:
    text = (data or {}).get("test_note")
    return str(text) if isinstance(text, str) and text else f"test_pearson: on the labelled test set; {NOT_USED}"


def baselines(exp: Experiment) -> dict[str, dict[str, dict[str, float]]]:
    """{backbone: {baseline: {split: r}}} from summary.json, keeping only well-formed finite numbers."""
    raw = (exp.summary or {}).get("baselines")
    out: dict[str, dict[str, dict[str, float]]] = {}
    for backbone, refs in (raw.items() if isinstance(raw, dict) else ()):
        for name, scores in (refs.items() if isinstance(refs, dict) else ()):
            good = {s: v for s in SPLITS if isinstance(scores, dict) and (v := number(scores.get(s))) is not None}
            if good:
                out.setdefault(str(backbone), {})[str(name)] = good
    return out


def best_backbone(exp: Experiment) -> str | None:
    best = exp.best_index
    if best is not None and "config/backbone" in exp.board.columns:
        return str(exp.board["config/backbone"].iloc[best])
    cfg = (exp.summary or {}).get("best_config")
    return str(cfg["backbone"]) if isinstance(cfg, dict) and cfg.get("backbone") else None


def delta_cell(score: float | None, ref: float | None) -> Cell:
    if score is None or ref is None:
        return "–"
    diff = score - ref
    if diff > 0:
        return f"{diff:+.4f} above", "above"
    return (f"{diff:+.4f} BELOW" if diff < 0 else "±0 not above"), "below"


def shortfalls(score: float | None, refs: dict[str, dict[str, dict[str, float]]], split: str) -> list[str]:
    """One phrase per reference score on `split` that `score` does not beat."""
    if score is None:
        return []
    out = []
    for backbone, named in refs.items():
        for name, scores in named.items():
            ref = scores.get(split)
            if ref is not None and score <= ref:
                who = f"{name} of {backbone}" if name != "char_bigram_overlap" else name
                out.append(f"{escape(who)} ({ref:.4f}, by {ref - score:.4f})")
    return out


def warning(subject: str, score_dev: float | None, score_test: float | None,
            refs: dict[str, dict[str, dict[str, float]]]) -> str:
    """A warning box when `subject` is at or below a no-training reference score (empty otherwise)."""
    dev = shortfalls(score_dev, refs, "dev")
    test = shortfalls(score_test, refs, "test")
    if not dev and not test:
        return ""
    parts = ([f"on dev it is BELOW {', '.join(dev)}"] if dev else []) + (
        [f"on test ({NOT_USED}) it is BELOW {', '.join(test)}"] if test else [])
    return (f'<p class="warn"><b>⚠ {escape(subject)} does not beat a reference score that needs no training</b>: '
            + "; ".join(parts) + ". A trivial predictor does as well: more search or a different backbone is "
            "needed before this is worth submitting.</p>")


def score_cards(exp: Experiment) -> str:
    """Best val_pearson and that trial's test_pearson side by side (only when the test score exists)."""
    val, test = best_val(exp), best_test(exp)
    if val is None or test is None:
        return ""
    return (
        '<div class="scores">'
        f'<div class="score"><div class="what">best val_pearson (dev) — used for selection</div>'
        f'<div class="value">{fmt_score(val)}</div></div>'
        f'<div class="score test" title="{escape(test_note(exp.summary))}"><div class="what">test_pearson of that '
        f'trial (labelled test) — <span class="nsel">{NOT_USED}</span></div>'
        f'<div class="value">{fmt_score(test)}</div></div></div>'
    )


def reference_table(exp: Experiment) -> str:
    """The no-training reference scores per backbone on dev (and test), and how far the best trial is from each."""
    refs = baselines(exp)
    if not refs:
        return ""
    val, test = best_val(exp), best_test(exp)
    with_test = any("test" in s for named in refs.values() for s in named.values())
    mine = best_backbone(exp)
    rows: list[list[Cell]] = []
    for backbone, named in refs.items():
        shown = escape(backbone) + (" <i>(best trial's)</i>" if backbone == mine and len(refs) > 1 else "")
        for name, scores in named.items():
            what = f"{escape(name)} <span class='aside'>{escape(DESCRIBE.get(name, ''))}</span>"
            row: list[Cell] = [shown, what, fmt_score(scores.get("dev", math.nan)), delta_cell(val, scores.get("dev"))]
            if with_test:
                row += [fmt_score(scores.get("test", math.nan)) if "test" in scores else "–",
                        delta_cell(test, scores.get("test"))]
            rows.append(row)
    headers = ["backbone", "reference", "dev", "best trial − reference (dev)"]
    if with_test:
        headers += ["test", "best trial − reference (test)"]
    notes = {"test": NOT_USED, "best trial − reference (test)": NOT_USED} if with_test else {}
    return ("<h3>Reference scores (no training)</h3>" + table(headers, rows, header_notes=notes)
            + '<p class="note">Pearson of predictors that need no training, on the same data. The best trial (chosen '
              "by val_pearson) is compared with each" + (f"; test columns are {NOT_USED}" if with_test else "")
            + ".</p>")


def ensemble_comparison(exp: Experiment, ens_test: float | None) -> str:
    """The chosen ensemble's test Pearson against the reference scores on test ('' when either is missing)."""
    refs = baselines(exp)
    pairs = [(name, backbone, s["test"]) for backbone, named in refs.items() for name, s in named.items()
             if "test" in s]
    if ens_test is None or not pairs:
        return ""
    said, below = [], False
    for name, backbone, ref in pairs:
        diff = ens_test - ref
        below = below or diff <= 0
        word = "above" if diff > 0 else "<b class='below'>BELOW</b>" if diff < 0 else "<b class='below'>not above</b>"
        label = name if name == "char_bigram_overlap" else f"{name} of {backbone}"
        said.append(f"{diff:+.4f} {word} {escape(label)} ({ref:.4f})")
    text = f"The chosen ensemble's test_pearson against the reference scores ({NOT_USED}): " + ", ".join(said) + "."
    if below:
        return (f'<p class="warn"><b>⚠ The chosen ensemble does not beat a reference score that needs no '
                f"training.</b> {text}</p>")
    return f'<p class="note">{text}</p>'
