"""Small HTML helpers of the report: number formatting, tables, figures, notes, sections, and the page's CSS."""

from __future__ import annotations

import math
import re
from html import escape
from typing import Any

import numpy as np


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


Cell = str | tuple[str, str]  # already-escaped HTML, or (HTML, CSS class of the cell)


def _cell(c: Cell) -> str:
    html, cls = c if isinstance(c, tuple) else (c, "")
    cls = " ".join(x for x in ("num" if NUMBER.fullmatch(html) else "", cls) if x)
    return f'<td class="{cls}">{html}</td>' if cls else f"<td>{html}</td>"


def table(headers: list[str], rows: list[list[Cell]], classes: list[str] | None = None, groups: str = "",
          header_notes: dict[str, str] | None = None) -> str:
    """`rows` are already-escaped HTML cells; numbers are right-aligned so their digits line up.

    `header_notes` {header: text}: a small line under that header and its tooltip ("not used for selection").
    """
    notes = header_notes or {}

    def th(h: str) -> str:
        # long knob names (hidden_dropout) may break after an underscore: wide boards fit without scrolling
        label = escape(h).replace("_", "_<wbr>")
        if h not in notes:
            return f"<th>{label}</th>"
        return f'<th title="{escape(notes[h])}">{label}<br><span class="nsel">{escape(notes[h])}</span></th>'

    head = "".join(th(h) for h in headers)
    body = "".join(
        (f'<tr class="{classes[i]}">' if classes and classes[i] else "<tr>") + "".join(_cell(c) for c in row) + "</tr>"
        for i, row in enumerate(rows)
    )
    return f"<table><thead>{groups}<tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{caption}</figcaption></figure>"


def note(text: str) -> str:
    return f'<p class="note">{text}</p>'


def section(sid: str, title: str, body: str) -> str:
    return f'<section id="{sid}"><h2>{escape(title)}</h2>\n{body}\n</section>'



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
.aside { font-size: 11px; color: #777; }
.nsel { font-size: 10.5px; font-weight: normal; font-style: italic; color: #8a5a00; }
.scores { display: flex; gap: 14px; flex-wrap: wrap; margin: 12px 0; }
.score { border: 1px solid #ccd; border-radius: 6px; padding: 8px 14px; min-width: 240px; }
.score.test { border-style: dashed; border-color: #d9b66a; background: #fffaf0; }
.score .value { font-size: 26px; font-weight: 600; font-variant-numeric: tabular-nums; }
.score .what { font-size: 12.5px; color: #555; }
.warn { background: #fdecea; border-left: 5px solid #c0392b; padding: 8px 12px; color: #7b1d12; margin: 10px 0; }
.below { color: #b0281a; font-weight: 700; } td.below { background: #fdecea; } td.above { color: #276b2f; }
"""
