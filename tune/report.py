"""One self-contained HTML page that shows a finished search (and its ensemble, when one was selected).

    python tune/report.py --experiment runs/sts_base [--output report.html] [--ensemble PATH] [--top 20]

Reads only the experiment directory contract (docs/experiment-format.md): leaderboard.csv (required),
summary.json, history.csv (else each trial folder's progress.csv) and ENSEMBLE/ensemble.json. Every figure is
an inline SVG, so the file opens offline, can be mailed, and needs no server. Written atomically.
"""

from __future__ import annotations

import sys
from pathlib import Path

# `python tune/report.py` puts tune/ first on sys.path, where a module of this folder could shadow a
# standard-library or third-party one of the same name: drop that entry, import tune.* as a package.
if __name__ == "__main__":
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import json
import math
import re
from dataclasses import dataclass, field
from html import escape
from typing import Any

import numpy as np
import pandas as pd

from trainables.fileio import atomic_write_text
from trainables.metrics import METRIC, best_position, rank
from tune import report_plots as plots

LEADERBOARD = "leaderboard.csv"
SUMMARY = "summary.json"
HISTORY = "history.csv"
PROGRESS = "progress.csv"
ENSEMBLE_JSON = Path("ensemble") / "ensemble.json"
REQUIRED_BOARD = ("trial_id", "val_pearson", "epochs_run", "status", "seconds")
SECTIONS = (
    ("summary", "Summary"),
    ("leaderboard", "Leaderboard"),
    ("learning-curves", "Learning curves"),
    ("rungs", "Rungs"),
    ("hyperparameters", "Hyperparameters"),
    ("parallel-coordinates", "Parallel coordinates"),
    ("compute", "Compute"),
    ("ensemble", "Ensemble"),
)


@dataclass
class Experiment:
    root: Path
    board: pd.DataFrame  # leaderboard.csv plus the derived `kind` column
    summary: dict[str, Any] | None
    history: pd.DataFrame | None  # trial_id, epoch, val_pearson (None: no learning curves anywhere)
    history_source: str
    max_epochs: float
    ensemble: dict[str, Any] | None = None
    ensemble_path: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def knob_columns(self) -> list[str]:
        return [c for c in self.board.columns if c.startswith("config/")]

    @property
    def varying(self) -> list[str]:
        """Knobs that differ between trials; a knob with one value says nothing about its effect."""
        return [c for c in self.knob_columns if self.board[c].astype(str).nunique(dropna=False) > 1]

    @property
    def best_index(self) -> int | None:
        return best_position(self.board[METRIC].to_numpy(dtype=float))


# --- reading ---------------------------------------------------------------------------------------
def _read_csv(path: Path) -> pd.DataFrame:
    # Ray's trial ids are hex ("1e5a3b00" would otherwise become a float): always text.
    try:
        return pd.read_csv(path, dtype={"trial_id": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a readable CSV ({exc})") from exc


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc


def _truthy(values: pd.Series) -> pd.Series:
    return values.map(lambda v: v is True or str(v).strip().lower() in ("true", "1", "1.0"))


def read_board(root: Path) -> pd.DataFrame:
    path = root / LEADERBOARD
    if not path.is_file():
        raise ValueError(
            f"{path} not found: is {root} an experiment directory written by tune/search.py "
            "(docs/experiment-format.md)?"
        )
    board = _read_csv(path)
    missing = [c for c in REQUIRED_BOARD if c not in board.columns]
    if missing:
        raise ValueError(f"{path} lacks column(s) {', '.join(missing)} (docs/experiment-format.md)")
    if board.empty:
        raise ValueError(f"{path} has no trials: nothing to report")
    for col in ("val_pearson", "epochs_run", "seconds", "best_epoch"):
        if col in board.columns:
            try:
                board[col] = pd.to_numeric(board[col])
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{path}: column {col} must be numeric ({exc})") from exc
    board["status"] = board["status"].fillna("").astype(str)
    return rank(board)


def _max_epochs(board: pd.DataFrame) -> float:
    """The search's epoch budget: every trial carries it as a knob; else the longest trial ran it."""
    if "config/max_epochs" in board.columns:
        values = pd.to_numeric(board["config/max_epochs"], errors="coerce")
        if values.notna().any():
            return float(values.max())
    return float(board["epochs_run"].max()) if board["epochs_run"].notna().any() else 0.0


def _trial_kinds(board: pd.DataFrame, max_epochs: float) -> pd.Series:
    errored = board["status"].str.upper().eq("ERROR")
    if "stopped_early" in board.columns:
        early = _truthy(board["stopped_early"])
    else:
        early = board["epochs_run"].fillna(0) < max_epochs - 1e-9
    return pd.Series(
        np.where(errored, "error", np.where(early, "stopped early", "completed")), index=board.index
    )


def _history_frame(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    if "epoch" not in frame.columns and "training_iteration" in frame.columns:
        frame = frame.assign(epoch=frame["training_iteration"])
    missing = [c for c in ("trial_id", "epoch", "val_pearson") if c not in frame.columns]
    if missing:
        raise ValueError(f"{path} lacks column(s) {', '.join(missing)} (docs/experiment-format.md)")
    out = frame[["trial_id", "epoch", "val_pearson"]].copy()
    for col in ("epoch", "val_pearson"):
        out[col] = pd.to_numeric(out[col], errors="coerce")
    return out.dropna(subset=["epoch"])


def read_history(root: Path, notes: list[str]) -> tuple[pd.DataFrame | None, str]:
    path = root / HISTORY
    if path.is_file():
        history = _history_frame(_read_csv(path), path)
        if len(history):
            return history, HISTORY
        missing = f"{HISTORY} has no rows"
    else:
        missing = f"no {HISTORY} in the experiment directory"
    frames = []
    for progress in sorted(root.glob(f"*/{PROGRESS}")):
        try:
            frame = pd.read_csv(progress, dtype={"trial_id": str})
        except pd.errors.EmptyDataError:  # Ray leaves it empty for a trial that never reported
            continue
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            notes.append(f"skipped {progress}: unreadable ({exc}).")
            continue
        if "val_pearson" not in frame.columns:
            continue
        if "trial_id" not in frame.columns:
            frame["trial_id"] = progress.parent.name
        frames.append(_history_frame(frame, progress))
    if frames:
        notes.append(f"{missing}: learning curves come from each trial folder's {PROGRESS}.")
        return pd.concat(frames, ignore_index=True), f"{PROGRESS} of {len(frames)} trial folder(s)"
    notes.append(f"{missing} and no trial folder has a {PROGRESS} with val_pearson: no learning curves.")
    return None, ""


def read_experiment(root: Path, ensemble_path: Path | None = None) -> Experiment:
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"experiment directory {root} not found (pass the STORAGE/NAME of tune/search.py)")
    board = read_board(root)
    notes: list[str] = []
    summary = None
    if (root / SUMMARY).is_file():
        summary = _read_json(root / SUMMARY)
        if not isinstance(summary, dict):
            raise ValueError(f"{root / SUMMARY}: expected a JSON object, got {type(summary).__name__}")
    else:
        notes.append(f"no {SUMMARY}: the summary is derived from {LEADERBOARD} (wall time unknown).")
    history, source = read_history(root, notes)
    max_epochs = _max_epochs(board)
    board["kind"] = _trial_kinds(board, max_epochs)
    exp = Experiment(root, board, summary, history, source, max_epochs, notes=notes)

    explicit = ensemble_path is not None
    path = Path(ensemble_path) if explicit else root / ENSEMBLE_JSON
    if path.is_file():
        data = _read_json(path)
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected the JSON object of ensemble/select.py")
        exp.ensemble, exp.ensemble_path = data, path
        source = data.get("experiment")
        if isinstance(source, str) and Path(source).resolve() != root.resolve():
            notes.append(f"{path} was selected from {source}, not from this experiment directory.")
    elif explicit:
        raise ValueError(f"--ensemble {path} not found (ensemble/select.py writes OUT/ensemble.json)")
    return exp


# --- formatting ------------------------------------------------------------------------------------
def fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        v = float(value)
        if not math.isfinite(v):
            return "NaN" if math.isnan(v) else str(v)
        return str(int(v)) if v.is_integer() and abs(v) < 1e9 else f"{v:.{digits}g}"
    return str(value)


def fmt_score(value: Any) -> str:
    return "NaN" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{float(value):.4f}"


def fmt_seconds(seconds: Any) -> str:
    if seconds is None or not math.isfinite(float(seconds)):
        return "unknown"
    s = round(float(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h {m:02d}m {s:02d}s" if h else f"{m}m {s:02d}s" if m else f"{s}s"


NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?|NaN|–")


def table(headers: list[str], rows: list[list[str]], classes: list[str] | None = None, groups: str = "") -> str:
    """`rows` are already-escaped HTML cells; numbers are right-aligned so their digits line up."""
    # long knob names (hidden_dropout) may break after an underscore: wide boards fit without scrolling
    head = "".join(f"<th>{escape(h).replace('_', '_<wbr>')}</th>" for h in headers)
    body = "".join(
        (f'<tr class="{classes[i]}">' if classes and classes[i] else "<tr>")
        + "".join(f'<td class="num">{c}</td>' if NUMBER.fullmatch(c) else f"<td>{c}</td>" for c in row)
        + "</tr>"
        for i, row in enumerate(rows)
    )
    return f"<table><thead>{groups}<tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{caption}</figcaption></figure>"


def note(text: str) -> str:
    return f'<p class="note">{text}</p>'


def section(sid: str, title: str, body: str) -> str:
    return f'<section id="{sid}"><h2>{escape(title)}</h2>\n{body}\n</section>'


# --- sections --------------------------------------------------------------------------------------
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
        facts.insert(2, ("best trial", f"<b>{escape(str(row['trial_id']))}</b> — val_pearson "
                                       f"<b>{fmt_score(row['val_pearson'])}</b> at epoch "
                                       f"{escape(fmt(row.get('best_epoch')))}"))
    body = "<dl>" + "".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>"
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
    base = [c for c in ("rank", "trial_id", "val_pearson", "best_epoch", "epochs_run", "status", "seconds")
            if c in board.columns]
    cols = [*base, *exp.varying]
    rows, classes = [], []
    best = exp.best_index
    for i, row in board.head(top).iterrows():
        cells = []
        for c in cols:
            if c == "val_pearson":
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
    return section("leaderboard", "Leaderboard", body + '<div class="scroll">' + table(headers, rows, classes)
                   + "</div>")


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


def _points(items: Any, x_key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for p in items if isinstance(items, list) else []:
        if isinstance(p, dict) and p.get(x_key) is not None and p.get("dev_pearson") is not None:
            xs.append(float(p[x_key]))
            ys.append(float(p["dev_pearson"]))
    return xs, ys


def ensemble_section(exp: Experiment) -> str:
    ens = exp.ensemble or {}
    chosen = ens.get("method")
    best_single = ens.get("best_single") if isinstance(ens.get("best_single"), dict) else {}
    members = [m for m in ens.get("members") or [] if isinstance(m, dict)]
    facts = [
        ("source", escape(str(exp.ensemble_path))),
        ("chosen method", f"<b>{escape(str(chosen))}</b> (requested: {escape(str(ens.get('method_requested')))})"),
        ("dev_pearson", f"{fmt_score(ens.get('dev_pearson'))} (submitted form, clipped/rounded: "
                        f"{fmt_score(ens.get('dev_pearson_submitted'))}) — selected on this same dev set"),
        ("best single", f"{escape(str(best_single.get('trial_id')))}: {fmt_score(best_single.get('dev_pearson'))}"),
        ("members", str(len(members))),
        ("dev / test rows", f"{escape(fmt(ens.get('n_dev')))} / {escape(fmt(ens.get('n_test')))}"),
        ("submission", escape(str(ens.get("submission") or "none (members carry no test predictions)"))),
    ]
    body = "<dl>" + "".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>"

    held = ens.get("held_out") if isinstance(ens.get("held_out"), dict) else {}
    methods = ens.get("methods") if isinstance(ens.get("methods"), dict) else {}
    names = list(dict.fromkeys([*methods, *held]))
    if names:
        rows, classes = [], []
        for name in names:
            h = held.get(name) or {}
            m = methods.get(name) or {}
            n_members = len(m.get("weights") or {}) if m else None
            rows.append([escape(name), fmt_score(m.get("dev_pearson")) if m else "–",
                         fmt_score(h.get("mean")) if h else "–", fmt(h.get("sd"), 3) if h else "–",
                         fmt_score(h.get("selection_mean")) if h else "–",
                         (f"{h['optimism']:+.4f}" if h.get("optimism") is not None else "–") if h else "–",
                         escape(fmt(h.get("repeats"))) if h else "–", fmt(n_members)])
            classes.append("best" if name == chosen else "")
        body += "<h3>Held-out estimate per method</h3>" + table(
            ["method", "dev (full)", "held-out mean", "sd", "selection half", "optimism", "repeats", "members"],
            rows, classes)
        if not held:
            body += note("No held-out estimate (--holdout-repeats 0): the dev numbers above are optimistic.")
        if ens.get("held_out_note"):
            body += note(escape(str(ens["held_out_note"])))

    curves = []
    for name, c in (ens.get("curves") or {}).items():
        if not isinstance(c, dict):
            continue
        if c.get("kind") == "best_so_far_by_trial":
            xs, ys = _points(c.get("points"), "trial")
            tried = c.get("trials")
            if xs and isinstance(tried, int | float) and tried > xs[-1]:
                xs, ys = [*xs, float(tried)], [*ys, ys[-1]]  # the best stayed best until the last subset
                curves.append(plots.SelectionCurve(f"{name}: best of {fmt(c.get('trials'))} random subsets", xs, ys,
                                                   "subsets tried", log_x=max(xs) > 50 and min(xs) > 0))
        elif c.get("kind") == "greedy_steps":
            xs, ys = _points(c.get("steps"), "step")
            if xs:
                curves.append(plots.SelectionCurve(
                    f"{name}: greedy steps (initial {fmt(c.get('init_size'))} member(s))", xs, ys, "step",
                    best_x=c.get("best_step")))
    if curves:
        body += "<h3>Selection curves</h3>" + figure(
            plots.selection_curves(curves, best_single.get("dev_pearson")),
            "Dev Pearson of the ensemble as the selection proceeds (full dev set, so optimistic); dashed: "
            "the best single trial.")

    buckets = ens.get("buckets") if isinstance(ens.get("buckets"), dict) else {}
    tables = {k: [r for r in v if isinstance(r, dict)] for k, v in buckets.items() if isinstance(v, list)}
    if tables:
        names_b = {"best_single": f"best single ({best_single.get('trial_id')})", "ensemble": f"ensemble ({chosen})"}
        first = next(iter(tables.values()))
        labels = [str(r.get("bucket")) for r in first]
        plain = [i for i, lab in enumerate(labels) if lab != "all"]
        series = {names_b.get(k, k): [rows[i].get("pearson") if i < len(rows) else None for i in plain]
                  for k, rows in tables.items()}
        body += "<h3>Per label bucket (dev)</h3>" + figure(
            plots.bucket_bars([labels[i] for i in plain], series),
            "Pearson within each gold-label bucket: the ranking inside a band, which the overall number hides.")
        headers = ["bucket", "n"] + ["pearson", "mae", "bias"] * len(tables)
        groups = '<tr><th colspan="2"></th>' + "".join(
            f'<th colspan="3" class="group">{escape(names_b.get(k, k))}</th>' for k in tables) + "</tr>"
        rows = []
        for i, lab in enumerate(labels):
            cells = [escape(lab), escape(fmt(first[i].get("count")))]
            for tab in tables.values():
                r = tab[i] if i < len(tab) else {}
                bias = r.get("bias")
                mae = r.get("mae")
                cells += [fmt_score(r.get("pearson")), "–" if mae is None else f"{mae:.3f}",
                          "–" if bias is None else f"{bias:+.3f}"]
            rows.append(cells)
        body += '<div class="scroll">' + table(headers, rows, groups=groups) + "</div>"

    if members:
        rows = [[escape(str(m.get("trial_id"))), fmt_score(m.get("weight")), fmt_score(m.get("dev_pearson"))]
                for m in sorted(members, key=lambda m: -(m.get("weight") or 0))]
        body += "<h3>Members</h3>" + table(["trial", "weight", "dev_pearson"], rows)
    return section("ensemble", "Ensemble", body)


# --- page ------------------------------------------------------------------------------------------
CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto; max-width: 1320px;
       padding: 0 24px 48px; color: #222; line-height: 1.45; }
header { border-bottom: 2px solid #4c72b0; margin-bottom: 8px; }
nav { position: sticky; top: 0; background: #fff; padding: 6px 0; border-bottom: 1px solid #ddd; z-index: 1; }
nav a { margin-right: 14px; color: #4c72b0; text-decoration: none; font-size: 14px; }
section { margin-top: 28px; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: 4px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 18px; }
dt { color: #666; } dd { margin: 0; }
table { border-collapse: collapse; font-size: 12.5px; margin: 8px 0; }
th, td { border: 1px solid #ddd; padding: 3px 6px; text-align: left; white-space: nowrap; }
th { background: #f3f5f9; white-space: normal; vertical-align: bottom; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.best td { background: #e8f4e8; font-weight: 600; } tr.err td { color: #a33; } tr.vary td { background: #fff7e0; }
.scroll { overflow-x: auto; }
.tag { font-size: 11px; padding: 0 4px; border-radius: 3px; font-weight: normal; }
.tag.early { background: #ffe6cc; } .tag.err { background: #f8d0d0; }
figure { margin: 12px 0; } figure svg { max-width: 100%; height: auto; }
figcaption, .note { color: #555; font-size: 13px; }
th.group { text-align: center; }
details { margin: 8px 0; } summary { cursor: pointer; color: #4c72b0; }
"""


def render(exp: Experiment, top: int = 20) -> str:
    parts = [
        summary_section(exp),
        leaderboard_section(exp, top),
        learning_curves_section(exp),
        rungs_section(exp),
        hyperparameters_section(exp),
        parallel_section(exp),
        compute_section(exp),
    ]
    if exp.ensemble is not None:
        parts.append(ensemble_section(exp))
    present = [(sid, title) for sid, title in SECTIONS if sid != "ensemble" or exp.ensemble is not None]
    nav = "".join(f'<a href="#{sid}">{escape(title)}</a>' for sid, title in present)
    name = (exp.summary or {}).get("experiment") or str(exp.root)
    title = f"sts-tune report — {Path(str(name)).name}"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{escape(title)}</title>"
        f"<style>{CSS}</style></head><body>\n<header><h1>{escape(title)}</h1></header>\n<nav>{nav}</nav>\n"
        + "\n".join(parts)
        + "\n</body></html>\n"
    )


def build_report(experiment: Path, output: Path | None = None, ensemble: Path | None = None, top: int = 20) -> Path:
    if top < 1:
        raise ValueError(f"--top must be >= 1, got {top}")
    output = Path(output) if output is not None else Path(experiment) / "report.html"
    if output.is_dir():
        raise ValueError(f"--output {output} is a directory; pass a file path such as {output / 'report.html'}")
    page = render(read_experiment(Path(experiment), ensemble), top)  # all of it before any byte is written
    return atomic_write_text(output, page)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tune/report.py", description="Write one self-contained HTML report "
                                     "of a search (docs/experiment-format.md).")
    parser.add_argument("--experiment", required=True, type=Path, help="experiment directory (tune/search.py)")
    parser.add_argument("--output", type=Path, default=None, help="HTML file to write (EXPERIMENT/report.html)")
    parser.add_argument("--ensemble", type=Path, default=None,
                        help="ensemble.json of ensemble/select.py (default: EXPERIMENT/ensemble/ensemble.json "
                             "when it exists)")
    parser.add_argument("--top", type=int, default=20, help="leaderboard rows shown (20)")
    args = parser.parse_args(argv)
    try:
        path = build_report(args.experiment, args.output, args.ensemble, args.top)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
