"""Dataset adapters: competition CSV, KLUE-STS (JSON and CSV export), KorSTS TSV -> one canonical table.

Each format is a reader `(path, text, require_label) -> table` registered by name (`data_format` in the
trial config, `--format` of ensemble/predict.py); a `sniff(text, first_line, header_cells)` predicate in its
registration lets `auto` detect it (tried in registration order). Readers build the table with
`canonical_table`, which checks ids.

Canonical table columns: id (str, unique), source (str), sentence_1, sentence_2 (non-empty str),
label (float in [0, 5], NaN for unlabelled test rows). Every problem is reported as a DataError that
names the file, the row (as a spreadsheet shows it: header = row 1) and the column.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from trainables.paths import DEFAULT_DEV, DEFAULT_TEST, DEFAULT_TRAIN
from trainables.registry import DATA_FORMATS

COLUMNS = ["id", "source", "sentence_1", "sentence_2", "label"]
COMPETITION_TRAIN = ["id", "source", "sentence_1", "sentence_2", "label", "binary-label"]
COMPETITION_TEST = ["id", "source", "sentence_1", "sentence_2"]
KORSTS_COLUMNS = ["genre", "filename", "year", "id", "score", "sentence1", "sentence2"]


class DataError(ValueError):
    """Bad input data; the message names the file, row and column to fix."""


@dataclass(frozen=True)
class _Row:
    line: int  # 1-based line in the file where the record starts (header = 1)
    values: dict[str, str]


def read_table(path: str | Path, fmt: str = "auto", *, require_label: bool = True) -> pd.DataFrame:
    """Read one split into the canonical table. `require_label=False` for test files."""
    path = Path(path)
    text = _read_text(path)
    if fmt == "auto":
        fmt = detect_format(path, text)
    if fmt not in DATA_FORMATS:
        raise DataError(f"{path}: unknown data format {fmt!r}; allowed: auto, {', '.join(DATA_FORMATS.names())}")
    return DATA_FORMATS.get(fmt).build(path, text, require_label)


def detect_format(path: Path, text: str) -> str:
    """The first registered format whose `sniff` accepts the file's start."""
    first = text.splitlines()[0]
    cols = [c.strip() for c in next(csv.reader([first]))]
    # lower sniff_order first: a JSON file or a KorSTS TSV must not be mistaken for a CSV
    for entry in sorted(DATA_FORMATS.entries(), key=lambda e: e.meta.get("sniff_order", 100)):
        sniff = entry.meta.get("sniff")
        if sniff is not None and sniff(text, first, cols):
            return entry.name
    if "\t" in first:
        _tab_separated(path, first)
    raise DataError(
        f"{path}: cannot tell the format from the header {first[:120]!r}; expected the competition CSV "
        f"({','.join(COMPETITION_TRAIN)}), the KLUE-STS CSV (sentence1,sentence2,label), KLUE-STS JSON "
        f"or a KorSTS TSV ({' '.join(KORSTS_COLUMNS)}); or name the format with data_format"
    )


def _tab_separated(path: Path, first: str) -> None:
    raise DataError(
        f"{path}: the file is tab-separated (header {first[:80]!r}), not a CSV: save it comma-separated, or name "
        "its format if it is a KorSTS TSV (data_format=korsts, or --format korsts for predict.py)"
    )


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    text = _decode(path)
    if not text.strip():
        raise DataError(f"{path}: the file is empty")
    return text


def _decode(path: Path) -> str:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataError(
            f"{path}: row {line}: bytes at offset {e.start} are not valid UTF-8; save the file as UTF-8"
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _csv_rows(path: Path, text: str, *, delimiter: str = ",", quoting: int = csv.QUOTE_MINIMAL) -> tuple[
    list[str], list[_Row]
]:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, quoting=quoting)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise DataError(f"{path}: the file is empty") from None
    if delimiter == "," and len(header) == 1 and "\t" in header[0]:
        _tab_separated(path, header[0])
    rows: list[_Row] = []
    start = reader.line_num + 1
    for rec in reader:
        if not rec or all(not c.strip() for c in rec):
            start = reader.line_num + 1
            continue
        if len(rec) != len(header):
            raise DataError(
                f"{path}: row {start}: has {len(rec)} fields but the header has {len(header)} "
                f"({', '.join(header)}); check quoting and delimiters"
            )
        rows.append(_Row(start, dict(zip(header, rec, strict=True))))
        start = reader.line_num + 1
    if not rows:
        raise DataError(f"{path}: no data rows below the header")
    return header, rows


def _require(path: Path, header: list[str], needed: list[str]) -> None:
    missing = [c for c in needed if c not in header]
    if missing:
        raise DataError(
            f"{path}: missing column {', '.join(missing)}; found columns {', '.join(header)}"
        )


def _label(path: Path, row: int, column: str, raw: object) -> float:
    try:
        v = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise DataError(f"{path}: row {row}, column {column}: label {raw!r} is not a number") from None
    if math.isnan(v):
        raise DataError(f"{path}: row {row}, column {column}: label is NaN")
    if not 0.0 <= v <= 5.0:
        raise DataError(f"{path}: row {row}, column {column}: label {v} is outside [0, 5]")
    return v


def _sentence(path: Path, row: int, column: str, raw: object) -> str:
    s = raw if isinstance(raw, str) else ("" if raw is None else str(raw))
    if not s.strip():
        raise DataError(f"{path}: row {row}, column {column}: sentence is empty")
    return s


def canonical_table(path: Path, records: list[dict], lines: list[int], *, numbered: bool = False) -> pd.DataFrame:
    """The canonical table of a reader's records (one dict per row, `lines` their rows); ids must be unique.

    `numbered`: the file has no ids and the reader made them from the row numbers (`table.attrs["numbered"]`):
    fine for training, but a submission of such a file needs ids of the user's own (ensemble/predict.py).
    """
    seen: dict[str, int] = {}
    for rec, line in zip(records, lines, strict=True):
        if rec["id"] in seen:
            raise DataError(
                f"{path}: row {line}, column id: duplicate id {rec['id']!r} (first at row {seen[rec['id']]})"
            )
        seen[rec["id"]] = line
    table = pd.DataFrame.from_records(records, columns=COLUMNS)
    table["label"] = table["label"].astype(np.float64)
    table.attrs["numbered"] = numbered
    return table


@DATA_FORMATS.register(
    "competition", sniff=lambda text, first, cols: "sentence_1" in cols or "sentence_2" in cols, sniff_order=2
)
def _competition(path: Path, text: str, require_label: bool) -> pd.DataFrame:
    header, rows = _csv_rows(path, text)
    _require(path, header, COMPETITION_TRAIN[:5] if require_label else COMPETITION_TEST)
    has_label = "label" in header
    records, lines = [], []
    for r in rows:
        v = r.values
        if not v["id"].strip():
            raise DataError(f"{path}: row {r.line}, column id: id is empty")
        records.append({
            "id": v["id"].strip(),
            "source": v.get("source", ""),
            "sentence_1": _sentence(path, r.line, "sentence_1", v["sentence_1"]),
            "sentence_2": _sentence(path, r.line, "sentence_2", v["sentence_2"]),
            "label": _label(path, r.line, "label", v["label"]) if has_label else float("nan"),
        })
        lines.append(r.line)
    return canonical_table(path, records, lines)


def _klue_prefix(path: Path) -> str:
    stem = path.stem.lower()
    if "train" in stem:
        return "klue-sts-v1_train_"
    if "val" in stem or "dev" in stem:
        return "klue-sts-v1_dev_"
    return f"{path.stem}_"


@DATA_FORMATS.register(
    "klue_csv", sniff=lambda text, first, cols: "sentence1" in cols or "sentence2" in cols, sniff_order=3
)
def _klue_csv(path: Path, text: str, require_label: bool) -> pd.DataFrame:
    header, rows = _csv_rows(path, text)
    _require(path, header, ["sentence1", "sentence2", "label"] if require_label else ["sentence1", "sentence2"])
    prefix = _klue_prefix(path)
    has_label = "label" in header
    records, lines = [], []
    for i, r in enumerate(rows):
        v = r.values
        records.append({
            "id": v.get("guid") or f"{prefix}{i:05d}",
            "source": v.get("source", ""),
            "sentence_1": _sentence(path, r.line, "sentence1", v["sentence1"]),
            "sentence_2": _sentence(path, r.line, "sentence2", v["sentence2"]),
            "label": _label(path, r.line, "label", v["label"]) if has_label else float("nan"),
        })
        lines.append(r.line)
    return canonical_table(path, records, lines, numbered=not all(r.values.get("guid") for r in rows))


@DATA_FORMATS.register("klue_json", sniff=lambda text, first, cols: text.lstrip()[:1] in ("[", "{"), sniff_order=0)
def _klue_json(path: Path, text: str, require_label: bool) -> pd.DataFrame:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: row {e.lineno}: not valid JSON ({e.msg})") from None
    if isinstance(data, dict) and "data" in data:
        data = data["data"]
    if not isinstance(data, list) or not data:
        raise DataError(f"{path}: expected a non-empty JSON list of KLUE-STS examples")
    records, lines = [], []
    for i, ex in enumerate(data):
        row = i + 1  # JSON has no header: row = example number
        if not isinstance(ex, dict):
            raise DataError(f"{path}: row {row}: expected an object with guid, sentence1, sentence2, labels")
        for col in ("guid", "sentence1", "sentence2"):
            if col not in ex:
                raise DataError(f"{path}: row {row}: missing column {col}")
        label = float("nan")
        if require_label or "labels" in ex:
            labels = ex.get("labels")
            if not isinstance(labels, dict) or not ({"real-label", "label"} & labels.keys()):
                raise DataError(f"{path}: row {row}: missing column labels.real-label")
            col = "real-label" if "real-label" in labels else "label"
            label = _label(path, row, f"labels.{col}", labels[col])
        records.append({
            "id": str(ex["guid"]),
            "source": str(ex.get("source", "")),
            "sentence_1": _sentence(path, row, "sentence1", ex["sentence1"]),
            "sentence_2": _sentence(path, row, "sentence2", ex["sentence2"]),
            "label": label,
        })
        lines.append(row)
    return canonical_table(path, records, lines)


@DATA_FORMATS.register(
    "korsts", sniff=lambda text, first, cols: "\t" in first and "sentence1" in first and "score" in first,
    sniff_order=1,
)
def _korsts(path: Path, text: str, require_label: bool) -> pd.DataFrame:
    # quoting disabled: KorSTS sentences contain bare quotes, and default quoting silently drops rows
    header, rows = _csv_rows(path, text, delimiter="\t", quoting=csv.QUOTE_NONE)
    _require(path, header, ["sentence1", "sentence2", "score"] if require_label else ["sentence1", "sentence2"])
    records, lines = [], []
    for i, r in enumerate(rows):
        v = r.values
        records.append({
            "id": f"korsts-{path.stem}-{i:05d}",
            "source": v.get("genre", ""),
            "sentence_1": _sentence(path, r.line, "sentence1", v["sentence1"]),
            "sentence_2": _sentence(path, r.line, "sentence2", v["sentence2"]),
            "label": _label(path, r.line, "score", v["score"]) if "score" in header else float("nan"),
        })
        lines.append(r.line)
    return canonical_table(path, records, lines, numbered=True)


def check_csv(path: str | Path, required: tuple[str, ...]) -> None:
    """Validate a comma-separated file as the readers do (UTF-8, header and data rows, field counts) when no
    registered format fits it; the `required` columns must be present and non-empty in every row."""
    path = Path(path)
    header, rows = _csv_rows(path, _read_text(path))
    _require(path, header, list(required))
    for r in rows:
        for column in required:
            _sentence(path, r.line, column, r.values[column])


# --- a configured dataset --------------------------------------------------------------------------
@dataclass(frozen=True)
class DatasetSplits:
    train: pd.DataFrame
    dev: pd.DataFrame
    test: pd.DataFrame | None
    train_path: str
    dev_path: str
    test_path: str
    warnings: tuple[str, ...] = ()  # one line each, for the command line (trainables/datachecks.py)


def load_splits(train_path: str = "", dev_path: str = "", test_path: str = "", fmt: str = "auto", *,
                allow_overlap: bool = False, batch_size: int = 1, num_folds: int = 0) -> DatasetSplits:
    """Train, dev and optional test; empty paths mean the bundled KLUE-STS split (train / dev carved from
    train / the official dev set as the labelled test set, which is the default only with the bundled train).

    The splits are checked together (trainables/datachecks.py: shared pairs, constant dev labels, sizes):
    a DataError for what no trial should run on, one-line `warnings` for the command line to print.
    """
    from trainables.datachecks import check_splits

    train_p, dev_p, test_path = resolved_paths(train_path, dev_path, test_path)
    train = read_table(train_p, fmt)
    dev = read_table(dev_p, fmt)
    test = read_table(test_path, fmt, require_label=False) if test_path else None
    splits = DatasetSplits(train, dev, test, train_p, dev_p, test_path)
    warnings = check_splits(splits, allow_overlap=allow_overlap, batch_size=batch_size, num_folds=num_folds)
    return replace(splits, warnings=tuple(warnings))


def resolved_paths(train_path: str, dev_path: str, test_path: str) -> tuple[str, str, str]:
    """Empty config paths resolved to the bundled split (its test set only with the bundled train)."""
    test = test_path or ("" if train_path else str(DEFAULT_TEST))
    return train_path or str(DEFAULT_TRAIN), dev_path or str(DEFAULT_DEV), test


def has_labels(table: pd.DataFrame | None) -> bool:
    """True when every row carries a label (a labelled test set can be scored, never used for selection)."""
    return table is not None and len(table) > 0 and bool(np.isfinite(table["label"].to_numpy(np.float64)).all())


def kfold_indices(labels: np.ndarray, num_folds: int, fold: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split rows 0..n-1 into K disjoint folds; returns (train rows, validation rows) for `fold`.

    Stratified by label (rows sorted by label are dealt out in groups of K), so each fold keeps the label
    distribution. The assignment depends only on the labels and `seed`, so every trial of a search sees
    the same folds whatever else it samples.
    """
    n = len(labels)
    if not 2 <= num_folds <= n:
        raise DataError(f"num_folds={num_folds}: must be between 2 and the number of rows ({n})")
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(n), np.asarray(labels, dtype=np.float64)))
    fold_of = np.empty(n, dtype=np.int64)
    for start in range(0, n, num_folds):
        chunk = order[start : start + num_folds]
        fold_of[chunk] = rng.permutation(num_folds)[: len(chunk)]
    return np.flatnonzero(fold_of != fold), np.flatnonzero(fold_of == fold)


def table_fingerprint(table: pd.DataFrame) -> str:
    """Hash of the sentence pairs (not labels): the part of the data that tokenization depends on."""
    import hashlib

    h = hashlib.sha256()
    for s1, s2 in zip(table["sentence_1"], table["sentence_2"], strict=True):
        h.update(s1.encode())
        h.update(b"\x1f")
        h.update(s2.encode())
        h.update(b"\x1e")
    return h.hexdigest()[:20]
