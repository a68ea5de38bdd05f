"""`python tune/report.py --experiment DIR [--output F]`: one self-contained HTML report of a search.

Also `python -m tune.report`. The report itself lives in tune/reporting/ (read -> sections -> page).
"""

from __future__ import annotations

from tune.reporting.page import build_report, main

__all__ = ["build_report", "main"]

if __name__ == "__main__":
    raise SystemExit(main())
