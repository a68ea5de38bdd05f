"""The report's sections about the search itself: summary, leaderboard, learning curves, rungs, knobs, compute."""

from __future__ import annotations

import math
from html import escape

import numpy as np

from tune.reporting import plots, scores
from tune.reporting.markup import figure, fmt, fmt_score, fmt_seconds, note, section, table
from tune.reporting.read import HISTORY, PROGRESS, Experiment


def summary_section(exp: Experiment) -> str:
    board, s = exp.board, exp.summary or {}
    best = exp.best_index
    by_status = s.get("trials_by_status") or board["status"].value_counts().to_dict()
    kinds = board["kind"].value_counts()
    total_epochs = s.get("total_epochs", float(board["epochs_run"].fillna(0).sum()))
    facts = [
        ("experiment", escape(str(s.get("experiment", exp.root)))),
        ("space", escape(str(s.get("space", "unknown")))),
        ("search", escape(" · ".join(f"{k} {s[k]}" for k in ("search_alg", "scheduler", "num_samples") if k in s))
         or "–"),
        ("trials", f"{len(board)} — " + escape(", ".join(f"{k}: {v}" for k, v in by_status.items()))),
        ("ran to max_epochs / stopped early / error",
         f"{kinds.get('completed', 0)} / {kinds.get('stopped early', 0)} / {kinds.get('error', 0)}"
         f" (max_epochs {fmt(exp.max_epochs)})"),
        ("epochs consumed", escape(fmt(total_epochs)) + (
            f" of {fmt(len(board) * exp.max_epochs)} without early stopping" if exp.max_epochs else "")),
        ("wall time", escape(fmt_seconds(s.get("wall_seconds"))) + (
            f" (trials' own time: {escape(fmt_seconds(board['seconds'].fillna(0).sum()))})")),
    ]
    if best is None:
        facts.insert(2, ("best trial", "none: no trial reported a finite val_pearson"))
    else:
        row = board.iloc[best]
        test = scores.best_test(exp)
        facts.insert(2, ("best trial", f"<b>{escape(str(row['trial_id']))}</b> — val_pearson "
                                       f"<b>{fmt_score(row['val_pearson'])}</b> at epoch "
                                       f"{escape(fmt(row.get('best_epoch')))}" + (
                                           "" if test is None else f"; test_pearson {fmt_score(test)} "
                                           f"<span class='nsel'>({scores.NOT_USED})</span>")))
    refs = scores.baselines(exp)
    body = scores.warning("The best trial", scores.best_val(exp), scores.best_test(exp), refs)
    body += "<dl>" + "".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>"
    body += scores.score_cards(exp) + scores.reference_table(exp)
    if best is not None and exp.knob_columns:
        row = board.iloc[best]
        varying = set(exp.varying)
        rows = [[escape(c.removeprefix("config/")), escape(fmt(row[c]))] for c in exp.knob_columns]
        cls = ["vary" if c in varying else "" for c in exp.knob_columns]
        body += ("<details><summary>best trial's full config (searched knobs highlighted)</summary>"
                 + table(["knob", "value"], rows, cls) + "</details>")
    body += "".join(note(escape(n)) for n in exp.notes)
    return section("summary", "Summary", body)


def leaderboard_section(exp: Experiment, top: int) -> str:
    board = exp.board
    test = scores.has_test_column(exp)
    base = [c for c in ("rank", "trial_id", "val_pearson", "test_pearson", "best_epoch", "epochs_run", "status",
                        "seconds") if c in board.columns and (c != "test_pearson" or test)]
    cols = [*base, *exp.varying]
    rows, classes = [], []
    best = exp.best_index
    for i, row in board.head(top).iterrows():
        cells = []
        for c in cols:
            if c in ("val_pearson", "test_pearson"):
                cells.append(fmt_score(row[c]))
            elif c == "status":
                # TERMINATED says nothing Ray-specific worth the width: show how the trial ended instead
                tag = {"stopped early": "<span class='tag early'>stopped early</span>",
                       "error": "<span class='tag err'>error</span>"}.get(row["kind"], "completed")
                status = str(row[c])
                cells.append(tag if status.upper() in ("TERMINATED", "ERROR") else f"{escape(status)} {tag}")
            elif c == "seconds":
                cells.append(escape(fmt(row[c], 3)))
            else:
                cells.append(escape(fmt(row[c], 3)))
        rows.append(cells)
        classes.append("best" if i == best else "err" if row["kind"] == "error" else "")
    headers = [c.removeprefix("config/") for c in cols]
    shown = f"top {min(top, len(board))} of {len(board)} trials" if len(board) > top else f"all {len(board)} trials"
    knobs = (f"{len(exp.varying)} knob(s) that vary between trials" if exp.varying
             else "no knob varies between trials")
    body = note(f"{escape(shown)}, best first; {escape(knobs)} (constant knobs: see the best trial's config).")
    notes = {"test_pearson": scores.NOT_USED} if test else {}
    body += '<div class="scroll">' + table(headers, rows, classes, header_notes=notes) + "</div>"
    if test:
        body += note(escape(scores.test_note(exp.summary)) + ". Ranked by val_pearson only.")
    return section("leaderboard", "Leaderboard", body)


def learning_curves_section(exp: Experiment) -> str:
    if exp.history is None:
        return section("learning-curves", "Learning curves", note(
            f"No learning curves: the experiment has no {HISTORY} and no trial folder with a {PROGRESS}."))
    kinds = dict(zip(exp.board["trial_id"], exp.board["kind"], strict=True))
    best = exp.best_index
    best_id = None if best is None else exp.board["trial_id"].iloc[best]
    # leaderboard order (best first) so the legend reads like the table
    order = {t: i for i, t in enumerate(exp.board["trial_id"])}
    curves = []
    for trial_id, g in sorted(exp.history.groupby("trial_id"), key=lambda kv: order.get(kv[0], len(order))):
        g = g.sort_values("epoch")
        curves.append(plots.Curve(str(trial_id), g["epoch"].to_numpy(float), g["val_pearson"].to_numpy(float),
                                  kinds.get(trial_id, "completed"), trial_id == best_id))
    without = sorted(set(exp.board["trial_id"]) - set(exp.history["trial_id"]))
    body = figure(plots.learning_curves(curves, exp.max_epochs or None),
                  f"val_pearson at each validation, from {escape(exp.history_source)}. Dashed with ▼: stopped "
                  "early by the scheduler; dotted with ✕: errored; thick: the best trial.")
    if without:
        body += note(f"{len(without)} trial(s) never reported a validation: {escape(', '.join(without))}.")
    return section("learning-curves", "Learning curves", body)


def rungs_section(exp: Experiment) -> str:
    epochs = exp.board["epochs_run"].fillna(0).to_numpy(float)
    top = max(exp.max_epochs, float(epochs.max()) if len(epochs) else 0.0)
    milestones = list(range(1, max(1, math.ceil(top - 1e-9)) + 1))
    counts = [int((epochs >= m - 1e-9).sum()) for m in milestones]
    sched = (exp.summary or {}).get("scheduler")
    body = figure(plots.rungs(milestones, counts, len(epochs)),
                  "Trials that completed at least N epochs. "
                  + (f"Scheduler: {escape(str(sched))}; " if sched else "")
                  + "with ASHA/HyperBand the drops sit at the rungs (grace period × reduction factor^k).")
    body += table(["epoch", *map(str, milestones)], [["trials", *map(str, counts)]])
    return section("rungs", "ASHA / HyperBand rungs", body)


def _knobs(exp: Experiment) -> list[plots.Knob]:
    return [plots.classify_knob(c.removeprefix("config/"), exp.board[c]) for c in exp.varying]


def hyperparameters_section(exp: Experiment) -> str:
    knobs = _knobs(exp)
    score = exp.board["val_pearson"]
    finite = int(np.isfinite(score.to_numpy(float)).sum())
    if not knobs:
        return section("hyperparameters", "Hyperparameter effects",
                       note("No knob varies between trials: nothing to compare."))
    if finite == 0:
        return section("hyperparameters", "Hyperparameter effects",
                       note("No trial reported a finite val_pearson: nothing to plot."))
    body = figure(plots.knob_effects(knobs, score, exp.board["kind"]),
                  "Best val_pearson of each trial against each knob that varies (numeric: scatter, log-x for "
                  "wide positive spans; choices: jittered strip, box when ≥ 3 trials share a value).")
    dropped = len(score) - finite
    if dropped:
        body += note(f"{dropped} trial(s) without a finite val_pearson (errored) are left out.")
    return section("hyperparameters", "Hyperparameter effects", body)


def parallel_section(exp: Experiment) -> str:
    knobs = _knobs(exp)
    if not knobs:
        return section("parallel-coordinates", "Parallel coordinates",
                       note("No knob varies between trials: nothing to draw."))
    body = figure(plots.parallel_coordinates(knobs, exp.board["val_pearson"], exp.best_index),
                  "One line per trial through its value of every varying knob, coloured by val_pearson; "
                  "thick: the best trial; grey dotted to NaN: trials without a finite val_pearson.")
    return section("parallel-coordinates", "Parallel coordinates", body)


def compute_section(exp: Experiment) -> str:
    b = exp.board
    if not np.isfinite(b["val_pearson"].to_numpy(float)).any():
        return section("compute", "Pearson against compute", note("No trial reported a finite val_pearson."))
    body = figure(plots.compute(b["val_pearson"], b["epochs_run"], b["seconds"], b["kind"], exp.best_index),
                  "Best val_pearson of each trial against the compute it used: were the longest-running trials "
                  "the best ones, and what did the early-stopped ones cost?")
    return section("compute", "Pearson against compute", body)
