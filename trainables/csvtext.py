"""A small CSV reader for the project's own side files (speller cache, synonyms, paraphrases).

UTF-8 (BOM allowed), a header naming the required columns, every required cell non-empty; each problem is a
ValueError naming the file, the data row, the line and the column. The datasets themselves go through the
format adapters of trainables/data.py instead.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence


def read_text_csv(
    path: str | os.PathLike[str], required: Sequence[str], *, what: str
) -> list[dict[str, str]]:
    """Read a UTF-8 (BOM allowed) CSV whose ``required`` columns must be present and non-empty.

    Returns one dict per data row with an extra ``"_row"`` key (1-based data row number) for messages.
    """
    p = str(path)
    try:
        with open(p, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise ValueError(f"{what} file {p!r} is empty; expected a header row {','.join(required)}")
            header = [h.strip() for h in header]
            missing = [c for c in required if c not in header]
            if missing:
                raise ValueError(
                    f"{what} file {p!r}: header must have column(s) {','.join(required)}; "
                    f"missing {','.join(missing)} (found {','.join(header)})"
                )
            rows = []
            for n, fields in enumerate(reader, start=1):
                if not fields:
                    continue  # blank line
                if len(fields) != len(header):
                    raise ValueError(
                        f"{what} file {p!r} row {n} (line {reader.line_num}): {len(fields)} field(s), "
                        f"header has {len(header)}; quote fields that contain commas"
                    )
                row = dict(zip(header, fields, strict=True))
                for col in required:
                    if not row[col].strip():
                        raise ValueError(
                            f"{what} file {p!r} row {n} (line {reader.line_num}) column {col!r} is empty"
                        )
                row["_row"] = str(n)
                rows.append(row)
    except FileNotFoundError:
        raise ValueError(f"{what} file {p!r} does not exist") from None
    except UnicodeDecodeError:
        raise ValueError(f"{what} file {p!r} is not UTF-8 text; re-save it as UTF-8") from None
    except csv.Error as exc:
        raise ValueError(f"{what} file {p!r} is not valid CSV: {exc}") from None
    return rows
