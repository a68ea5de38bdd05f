"""One self-contained HTML page that shows a finished search (and its ensemble, when one was selected).

    python tune/report.py --experiment runs/sts_base [--output report.html] [--ensemble PATH] [--top 20]

Reads only the experiment directory contract (docs/experiment-format.md): leaderboard.csv (required),
summary.json, history.csv (else each trial folder's progress.csv) and ENSEMBLE/ensemble.json. Every figure is
an inline SVG, so the file opens offline, can be mailed, and needs no server. Written atomically.
"""

from __future__ import annotations

import argparse
import sys
from html import escape
from pathlib import Path

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


def build_report(experiment: Path, output: Path | None = None, ensemble: Path | None = None, top: int = 20) -> Path:
    if top < 1:
        raise ValueError(f"--top must be >= 1, got {top}")
    output = Path(output) if output is not None else Path(experiment) / "report.html"
    if output.is_dir():
        raise ValueError(f"--output {output} is a directory; pass a file path such as {output / 'report.html'}")
    check_output(output, is_file=True, min_free_mb=10)  # before reading anything; leaves nothing behind
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
        print(f"wrote {build_report(args.experiment, args.output, args.ensemble, args.top)}")
    except ValueError as exc:  # bad input: one line naming the file, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
