"""The figures of tune/report.py, each rendered to an inline SVG string (matplotlib, Agg, no display).

Inline SVG keeps the report one self-contained file that stays sharp when zoomed; text is drawn as paths
(matplotlib's default svg.fonttype) so the page needs no font from anywhere.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # before pyplot: a report is rendered on headless nodes and in CI

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

# A fixed salt makes the SVG ids, and so the whole report, reproducible from the same inputs.
matplotlib.rcParams["svg.hashsalt"] = "sts-tune-report"

STATUS_COLORS = {"completed": "#1f77b4", "stopped early": "#ff7f0e", "error": "#d62728"}
LOG_HINTS = ("lr", "learning_rate", "weight_decay", "eps")

_ID = re.compile(r'\bid="([^"]+)"')
_HREF = re.compile(r'(href=")#([^"]+)"')
_URL = re.compile(r"url\(#([^)]+)\)")
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)


def _integer_ticks(ax: plt.Axes) -> None:
    """Epochs and steps: no 1.25-epoch ticks (fractional values still plot where they are)."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _log_ticks(ax: plt.Axes, values: np.ndarray) -> None:
    # matplotlib labels minor ticks too when a log axis spans less than a decade, and they overlap:
    # label 1-2-5 steps over short spans, decades over long ones
    decades = math.log10(np.nanmax(values) / np.nanmin(values)) if len(values) else 0.0
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if decades < 2 else (1.0,)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0e}".replace("e-0", "e-").replace("e+0", "e")))
    ax.xaxis.set_minor_formatter(NullFormatter())


def svg_of(fig: Figure, prefix: str) -> str:
    """The figure as an <svg> element for inlining; ids get `prefix` so several figures never collide."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buffer.getvalue()
    text = text[text.index("<svg") :]  # drop the XML declaration and DOCTYPE: invalid inside HTML
    # matplotlib's Dublin Core block carries purl.org URIs: not fetched, but not wanted in an offline page
    text = _METADATA.sub("", text)
    text = _ID.sub(lambda m: f'id="{prefix}-{m.group(1)}"', text)
    text = _HREF.sub(lambda m: f'{m.group(1)}#{prefix}-{m.group(2)}"', text)
    return _URL.sub(lambda m: f"url(#{prefix}-{m.group(1)})", text)


# --- knob typing -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Knob:
    name: str  # without the config/ prefix
    values: pd.Series  # one value per leaderboard row
    numeric: bool
    log: bool
    categories: tuple[str, ...] = ()  # categorical knobs: the values as shown, in axis order


def classify_knob(name: str, values: pd.Series) -> Knob:
    """Numeric knobs get a scatter (log-x over wide positive spans); choices of a few values a strip plot."""
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric:
        finite = values[np.isfinite(values.astype(float))].astype(float)
        integral = bool(len(finite)) and bool(np.all(finite == np.round(finite)))
        # batch_size ∈ {16, 32}: a choice, read best as categories, not as a two-point scatter
        if integral and finite.nunique() <= 6:
            order = sorted(finite.unique())
            cats = tuple(_fmt_value(v) for v in order)
            shown = values.map(lambda v: _fmt_value(v) if pd.notna(v) else "(none)")
            if shown.eq("(none)").any():
                cats = (*cats, "(none)")
            return Knob(name, shown, numeric=False, log=False, categories=cats)
        return Knob(name, values.astype(float), numeric=True, log=_log_scale(name, finite))
    shown = values.map(lambda v: "(none)" if pd.isna(v) else str(v))
    return Knob(name, shown, numeric=False, log=False, categories=tuple(sorted(shown.unique())))


def _log_scale(name: str, finite: pd.Series) -> bool:
    """Log-x for lr-like knobs and for values spread over decades (a log-uniform draw), not for a uniform
    draw from [0, b] that happened to land near 0: those crowd into the top decade."""
    if not len(finite) or not bool((finite > 0).all()):
        return False
    span = float(finite.max() / finite.min())
    if any(h == name or name.endswith("_" + h) or name.startswith(h + "_") for h in LOG_HINTS):
        return span > 1
    return span >= 10 and float((finite >= finite.max() / 10).mean()) < 0.75


def _fmt_value(v: object) -> str:
    if isinstance(v, float | np.floating):
        return f"{float(v):g}"
    return str(v)


# --- learning curves -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Curve:
    trial_id: str
    epochs: np.ndarray
    scores: np.ndarray
    kind: str  # completed | stopped early | error
    best: bool


def learning_curves(curves: Sequence[Curve], max_epochs: float | None) -> str:
    fig, ax = plt.subplots(figsize=(10, 5.2))
    cmap = plt.get_cmap("tab20" if len(curves) > 10 else "tab10")
    label_each = len(curves) <= 15
    for i, c in enumerate(curves):
        color = cmap(i % cmap.N)
        style = {"completed": "-", "stopped early": "--", "error": ":"}[c.kind]
        ax.plot(c.epochs, c.scores, style, color=color, lw=2.8 if c.best else 1.4, alpha=0.9,
                marker="o", ms=3, label=f"{c.trial_id}{' (best)' if c.best else ''}" if label_each else None,
                zorder=3 if c.best else 2)
        if c.kind != "completed" and len(c.epochs):
            # where the scheduler (or an error) ended the trial: visible without reading the legend
            ax.plot(c.epochs[-1], c.scores[-1], "v" if c.kind == "stopped early" else "X", color=color,
                    ms=10, mec="black", mew=0.8, zorder=4)
    if max_epochs:
        ax.axvline(max_epochs, color="grey", lw=0.8, ls="-.")
    ax.set_xlabel("epoch")
    _integer_ticks(ax)
    ax.set_ylabel("val_pearson")
    ax.grid(alpha=0.3)
    styles = [
        Line2D([], [], color="black", ls="-", label="ran to max_epochs"),
        Line2D([], [], color="black", ls="--", marker="v", ms=8, label="stopped early (▼ at stop)"),
        Line2D([], [], color="black", ls=":", marker="X", ms=8, label="error (✕ at last report)"),
    ]
    first = ax.legend(handles=styles, loc="lower right", fontsize=8, title="line style", title_fontsize=8)
    if label_each:
        ax.add_artist(first)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, title="trial", title_fontsize=8)
    return svg_of(fig, "lc")


# --- rungs -----------------------------------------------------------------------------------------
def rungs(milestones: Sequence[int], counts: Sequence[int], started: int) -> str:
    fig, ax = plt.subplots(figsize=(7, 3.6))
    x = [str(m) for m in milestones]
    bars = ax.bar(x, counts, color="#4c72b0")
    for bar, n in zip(bars, counts, strict=True):
        ax.annotate(str(n), (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom",
                    fontsize=9, xytext=(0, 2), textcoords="offset points")
    ax.axhline(started, color="grey", lw=0.8, ls="--", label=f"{started} trial(s) started")
    ax.set_xlabel("epoch milestone")
    ax.set_ylabel("trials reaching it")
    ax.set_ylim(0, max(started, 1) * 1.15)
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(axis="y", alpha=0.3)
    return svg_of(fig, "rungs")


# --- hyperparameter effects ------------------------------------------------------------------------
def knob_effects(knobs: Sequence[Knob], score: pd.Series, kinds: pd.Series) -> str:
    """One panel per knob: best val_pearson of each trial against the knob's value."""
    cols = min(3, len(knobs))
    rows = math.ceil(len(knobs) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.3 * rows), squeeze=False)
    ok = np.isfinite(score.to_numpy(dtype=float))
    rng = np.random.default_rng(0)  # jitter only; fixed so the report is reproducible
    for ax, knob in zip(axes.flat, knobs, strict=False):
        y = score.to_numpy(dtype=float)
        colors = [STATUS_COLORS[k] for k in kinds]
        if knob.numeric:
            x = knob.values.to_numpy(dtype=float)
            keep = ok & np.isfinite(x)
            ax.scatter(x[keep], y[keep], c=[c for c, k in zip(colors, keep, strict=True) if k], s=28,
                       edgecolors="black", linewidths=0.4)
            if knob.log:
                ax.set_xscale("log")
                _log_ticks(ax, x[keep])
        else:
            pos = {c: i for i, c in enumerate(knob.categories)}
            x = knob.values.map(pos).to_numpy(dtype=float)
            groups = [y[ok & (x == i)] for i in range(len(knob.categories))]
            filled = [i for i, g in enumerate(groups) if len(g) >= 3]
            if filled:
                ax.boxplot([groups[i] for i in filled], positions=filled, widths=0.5, showfliers=False,
                           medianprops={"color": "black"}, boxprops={"color": "#999999"},
                           whiskerprops={"color": "#999999"}, capprops={"color": "#999999"})
            jitter = rng.uniform(-0.12, 0.12, len(x))
            ax.scatter((x + jitter)[ok], y[ok], c=[c for c, k in zip(colors, ok, strict=True) if k], s=28,
                       edgecolors="black", linewidths=0.4, zorder=3)
            ax.set_xticks(range(len(knob.categories)))
            ax.set_xticklabels([_short(c) for c in knob.categories], rotation=20 if len(knob.categories) > 3 else 0,
                               fontsize=8)
            ax.set_xlim(-0.6, len(knob.categories) - 0.4)
        ax.set_title(knob.name + (" (log)" if knob.log else ""), fontsize=10)
        ax.set_ylabel("val_pearson", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(knobs) :]:
        ax.set_visible(False)
    handles = [Line2D([], [], ls="", marker="o", mfc=c, mec="black", label=k) for k, c in STATUS_COLORS.items()
               if k != "error"]
    fig.legend(handles=handles, loc="upper center", ncol=len(handles), fontsize=8, bbox_to_anchor=(0.5, 1.0))
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return svg_of(fig, "hp")


def _short(text: str, limit: int = 18) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parallel_coordinates(knobs: Sequence[Knob], score: pd.Series, best_index: int | None) -> str:
    """One vertical axis per varying knob plus val_pearson; one line per trial, coloured by val_pearson."""
    axes_values: list[np.ndarray] = []
    ticks: list[list[tuple[float, str]]] = []
    for knob in knobs:
        if knob.numeric:
            raw = knob.values.to_numpy(dtype=float)
            t = np.log10(raw) if knob.log else raw
            lo, hi = np.nanmin(t), np.nanmax(t)
            norm = (t - lo) / (hi - lo) if hi > lo else np.full_like(t, 0.5)
            axes_values.append(norm)
            ticks.append([(q, f"{(10 ** (lo + q * (hi - lo)) if knob.log else lo + q * (hi - lo)):.3g}")
                          for q in (0.0, 0.5, 1.0)])
        else:
            k = len(knob.categories)
            pos = {c: (i / (k - 1) if k > 1 else 0.5) for i, c in enumerate(knob.categories)}
            axes_values.append(knob.values.map(pos).to_numpy(dtype=float))
            ticks.append([(p, _short(c, 14)) for c, p in pos.items()])
    y = score.to_numpy(dtype=float)
    finite = np.isfinite(y)
    lo, hi = (np.min(y[finite]), np.max(y[finite])) if finite.any() else (0.0, 1.0)
    nan_at = -0.12  # errored trials end below the val_pearson axis instead of vanishing
    score_norm = np.where(finite, (y - lo) / (hi - lo) if hi > lo else 0.5, nan_at)
    axes_values.append(score_norm)
    ticks.append([(q, f"{lo + q * (hi - lo):.3f}") for q in (0.0, 0.5, 1.0)]
                 + ([(nan_at, "NaN")] if not finite.all() else []))
    names = [k.name + (" (log)" if k.log else "") for k in knobs] + ["val_pearson"]

    n_axes = len(names)
    fig, ax = plt.subplots(figsize=(max(8.0, 1.6 * n_axes), 5.0))
    cmap = plt.get_cmap("viridis")
    norm = matplotlib.colors.Normalize(lo, hi if hi > lo else lo + 1e-9)
    matrix = np.vstack(axes_values).T  # [trials, axes]
    xs = np.arange(n_axes)
    order = np.argsort(np.where(finite, y, -np.inf))  # best drawn last, on top
    for i in order:
        row = matrix[i]
        if finite[i]:
            ax.plot(xs, row, color=cmap(norm(y[i])), lw=3.0 if i == best_index else 1.3, alpha=0.85,
                    zorder=3 if i == best_index else 2)
        else:
            ax.plot(xs, row, color="#999999", lw=1.0, ls=":", zorder=1)
    for j in xs:
        ax.axvline(j, color="black", lw=0.8)
        for q, label in ticks[j]:
            ax.text(j + 0.04, q, label, fontsize=7, va="center", ha="left",
                    bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.7})
    ax.set_xticks(xs)
    ax.set_xticklabels(names, fontsize=9, rotation=15)
    ax.set_yticks([])
    ax.set_xlim(-0.2, n_axes - 1 + 0.6)
    ax.set_ylim(nan_at - 0.06 if not finite.all() else -0.06, 1.06)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="val_pearson", pad=0.02)
    return svg_of(fig, "pc")


# --- compute ---------------------------------------------------------------------------------------
def compute(score: pd.Series, epochs: pd.Series, seconds: pd.Series, kinds: pd.Series,
            best_index: int | None) -> str:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.0), sharey=True)
    y = score.to_numpy(dtype=float)
    ok = np.isfinite(y)
    for ax, x_series, label in ((axes[0], epochs, "epochs run"), (axes[1], seconds, "seconds (trial wall time)")):
        x = x_series.to_numpy(dtype=float)
        for kind, color in STATUS_COLORS.items():
            keep = ok & (kinds.to_numpy() == kind) & np.isfinite(x)
            if keep.any():
                ax.scatter(x[keep], y[keep], color=color, s=32, edgecolors="black", linewidths=0.4, label=kind)
        if best_index is not None and ok[best_index] and np.isfinite(x[best_index]):
            ax.scatter([x[best_index]], [y[best_index]], s=160, facecolors="none", edgecolors="black", lw=1.5,
                       label="best")
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    _integer_ticks(axes[0])
    axes[0].set_ylabel("best val_pearson")
    axes[0].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return svg_of(fig, "cmp")


# --- ensemble --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SelectionCurve:
    title: str
    x: list[float]
    y: list[float]
    xlabel: str
    best_x: float | None = None  # greedy: the step whose ensemble was kept
    log_x: bool = False


def selection_curves(curves: Sequence[SelectionCurve], single: float | None) -> str:
    fig, axes = plt.subplots(1, len(curves), figsize=(5.5 * len(curves), 3.8), squeeze=False)
    for ax, c in zip(axes.flat, curves, strict=True):
        ax.step(c.x, c.y, where="post", color="#4c72b0", marker="o" if len(c.x) <= 40 else None, ms=3,
                label="ensemble dev_pearson")
        if single is not None:
            ax.axhline(single, color="#d62728", ls="--", lw=1, label="best single")
        if c.best_x is not None:
            ax.axvline(c.best_x, color="grey", ls=":", lw=1, label="kept")
        if c.log_x:
            ax.set_xscale("log")
        else:
            _integer_ticks(ax)
        ax.set_title(c.title, fontsize=10)
        ax.set_xlabel(c.xlabel)
        ax.set_ylabel("dev Pearson")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return svg_of(fig, "sel")


def bucket_bars(buckets: Sequence[str], series: dict[str, Sequence[float]]) -> str:
    fig, ax = plt.subplots(figsize=(8, 3.8))
    width = 0.8 / max(1, len(series))
    x = np.arange(len(buckets))
    for i, (name, values) in enumerate(series.items()):
        vals = np.array([np.nan if v is None else v for v in values], dtype=float)
        ax.bar(x + (i - (len(series) - 1) / 2) * width, np.nan_to_num(vals, nan=0.0), width, label=name)
        for xi, v in zip(x, vals, strict=True):
            if not np.isfinite(v):  # an empty bucket or constant labels: say so instead of a zero bar
                ax.annotate("n/a", (xi + (i - (len(series) - 1) / 2) * width, 0), ha="center", va="bottom",
                            fontsize=7)
    ax.set_xticks(x)
    ax.set_xticklabels(buckets)
    ax.set_xlabel("label bucket")
    ax.set_ylabel("Pearson within bucket")
    ax.axhline(0, color="black", lw=0.6)
    ax.grid(axis="y", alpha=0.3)
    # above the axes: inside, it hides the bars of the high buckets
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(series), frameon=False)
    return svg_of(fig, "bk")
