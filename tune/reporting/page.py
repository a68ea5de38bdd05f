"""One self-contained HTML page that shows a finished search (and its ensemble, when one was selected).

    python tune/report.py --experiment runs/sts_base [--output report.html] [--ensemble PATH] [--top 20]
    python tune/report.py --experiment runs/e5 --experiment runs/tiny --ensemble runs/ens/ensemble.json --output r.html

Reads only the experiment directory contract (docs/experiment-format.md): leaderboard.csv (required),
summary.json, history.csv (else each trial folder's progress.csv) and ENSEMBLE/ensemble.json. Every figure is
an inline SVG, so the file opens offline, can be mailed, and needs no server. Written atomically.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from html import escape
from pathlib import Path

from ensemble.pool import expand_experiments
from trainables.fileio import atomic_write_text, check_output
from tune.reporting.ensemble_section import ensemble_section
from tune.reporting.markup import CSS
from tune.reporting.read import Experiment, read_experiment
from tune.reporting.sections import (
    compute_section,
    hyperparameters_section,
    leaderboard_section,
    learning_curves_section,
    parallel_section,
    rungs_section,
    summary_section,
)

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


_ID = re.compile(r'\bid="([^"]+)"')
_HREF = re.compile(r'href="#([^"]+)"')
_URL = re.compile(r"url\(#([^)]+)\)")


def prefix_ids(html: str, prefix: str) -> str:
    """Every id in `html` (and the links to them) prefixed, so several experiments' sections never collide."""
    html = _ID.sub(lambda m: f'id="{prefix}-{m.group(1)}"', html)
    html = _HREF.sub(lambda m: f'href="#{prefix}-{m.group(1)}"', html)
    return _URL.sub(lambda m: f"url(#{prefix}-{m.group(1)})", html)


def render_many(exps: list[Experiment], top: int = 20) -> str:
    """Several experiments on one page: each one's search sections in turn (ids prefixed e1-, e2-, …), then the
    ensemble pooled from them (carried by the first), with its members shown by experiment."""
    if len(exps) == 1:
        return render(exps[0], top)
    first = exps[0]
    names = [Path(str((e.summary or {}).get("experiment") or e.root)).name for e in exps]
    blocks, nav = [], []
    for i, (exp, name) in enumerate(zip(exps, names, strict=True), start=1):
        parts = [summary_section(exp), leaderboard_section(exp, top), learning_curves_section(exp),
                 rungs_section(exp), hyperparameters_section(exp), parallel_section(exp), compute_section(exp)]
        blocks.append(prefix_ids(f'<div id="experiment"><h1>experiment {escape(name)}</h1>\n' + "\n".join(parts)
                                 + "</div>", f"e{i}"))
        nav.append(f'<a href="#e{i}-experiment">{escape(name)}</a>')
    if first.ensemble is not None:
        blocks.append(ensemble_section(first, {str(e.root.resolve()): e for e in exps}))
        nav.append('<a href="#ensemble">Ensemble</a>')
    title = "sts-tune report — " + " + ".join(names)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{escape(title)}</title>"
        f"<style>{CSS}</style></head><body>\n<header><h1>{escape(title)}</h1></header>\n<nav>{''.join(nav)}</nav>\n"
        + "\n".join(blocks)
        + "\n</body></html>\n"
    )


def build_report(experiment: Path | Sequence[Path], output: Path | None = None, ensemble: Path | None = None,
                 top: int = 20) -> Path:
    """Write the report of one experiment, or of several (the first carries the ensemble: --ensemble, else its
    own ENSEMBLE/ensemble.json)."""
    if top < 1:
        raise ValueError(f"--top must be >= 1, got {top}")
    roots = [Path(experiment)] if isinstance(experiment, str | Path) else [Path(e) for e in experiment]
    if not roots:
        raise ValueError("pass at least one --experiment directory")
    output = Path(output) if output is not None else roots[0] / "report.html"
    if output.is_dir():
        raise ValueError(f"--output {output} is a directory; pass a file path such as {output / 'report.html'}")
    check_output(output, is_file=True, min_free_mb=10)  # before reading anything; leaves nothing behind
    exps = [read_experiment(roots[0], ensemble)]
    for root in roots[1:]:
        exp = read_experiment(root)
        exp.ensemble = exp.ensemble_path = None  # the pooled ensemble is the first experiment's
        exps.append(exp)
    page = render_many(exps, top)  # all of it before any byte is written
    return atomic_write_text(output, page)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tune/report.py", description="Write one self-contained HTML report "
                                     "of a search (docs/experiment-format.md).")
    parser.add_argument("--experiment", required=True, action="append", metavar="DIR",
                        help="experiment directory (tune/search.py); repeat it, or quote a glob, to report several "
                             "(e.g. the searches an ensemble pooled: pass its --ensemble)")
    parser.add_argument("--output", type=Path, default=None, help="HTML file to write (EXPERIMENT/report.html)")
    parser.add_argument("--ensemble", type=Path, default=None,
                        help="ensemble.json of ensemble/select.py (default: EXPERIMENT/ensemble/ensemble.json "
                             "when it exists)")
    parser.add_argument("--top", type=int, default=20, help="leaderboard rows shown (20)")
    args = parser.parse_args(argv)
    try:
        roots = expand_experiments(args.experiment)
        print(f"wrote {build_report(roots, args.output, args.ensemble, args.top)}")
    except ValueError as exc:  # bad input: one line naming the file, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
