"""Korean sentence preprocessing: a validated, versioned chain of steps (trainables/textsteps.py), cached.

Steps are applied in the order given; results are cached per (chain of step name + version [+ speller file
hash], sentence) in one sqlite file under the cache dir (trainables/textcache.py), so tuning over
preprocessing choices pays the Kiwi cost once per chain.

CLI::

    python trainables/preprocess.py --input X.csv --output Y.csv --steps emoji,jamo_runs,repeats,spacing
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from trainables.fileio import atomic_write_text, check_output
from trainables.registry import PREPROCESS_STEPS
from trainables.textcache import cache_get, cache_put, default_cache_dir, open_cache
from trainables.textsteps import BatchFn, step_version, validate_steps

SENTENCE_COLUMNS: tuple[str, str] = ("sentence_1", "sentence_2")


def _file_sha256(path: str | os.PathLike[str]) -> str:
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ValueError(f"speller cache file {str(path)!r} does not exist") from None
    except OSError as exc:
        raise ValueError(f"speller cache file {str(path)!r} cannot be read: {exc.strerror}") from None
    return hashlib.sha256(data).hexdigest()


def _chain(steps: Sequence[str], speller_cache: str | None) -> list[list[str]]:
    names = validate_steps(steps)
    if "speller_cache" in names and speller_cache is None:
        raise ValueError("the 'speller_cache' step needs a speller cache file (sentence,corrected CSV)")
    chain = []
    for name in names:
        extra = _file_sha256(speller_cache) if name == "speller_cache" and speller_cache else ""
        chain.append([name, step_version(name), extra])
    return chain


def pipeline_key(steps: Sequence[str], speller_cache: str | None = None) -> str:
    """Stable hex key of a step chain (names, versions, speller file content); '' steps -> key of no-op.

    ``speller_cache`` only counts when the ``speller_cache`` step is listed, so a config that always
    names the file can still tune over chains without it.
    """
    payload = json.dumps(_chain(steps, speller_cache), separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


@dataclass
class Pipeline:
    """A validated chain of steps; ``run`` transforms a batch of texts without touching the cache."""

    steps: list[str]
    speller_cache: str | None = None
    key: str = field(init=False)
    _fns: list[tuple[str, BatchFn]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.steps = validate_steps(self.steps)
        self.key = pipeline_key(self.steps, self.speller_cache)
        knobs = {"speller_cache": self.speller_cache}
        self._fns = [(name, PREPROCESS_STEPS.build(name, knobs)) for name in self.steps]

    def run(self, texts: list[str], progress: bool = False) -> list[str]:
        current = list(texts)
        for name, fn in self._fns:
            result = fn(current) if not progress else _with_progress(fn, current, name)
            if len(result) != len(current):
                raise RuntimeError(f"step {name!r} returned {len(result)} texts for {len(current)}")
            # A step that empties a sentence (one made only of emoji, say) keeps that step's input
            # instead: an empty side of a pair carries no signal, and the label was given for the text.
            current = [
                new if new.strip() or not old.strip() else old
                for old, new in zip(current, result, strict=True)
            ]
        return current


def _with_progress(fn: BatchFn, texts: list[str], name: str) -> list[str]:
    from tqdm.auto import tqdm

    # Chunks keep the bar moving while still handing Kiwi batches big enough for its threads.
    chunk = 2048
    out: list[str] = []
    with tqdm(total=len(texts), desc=f"preprocess {name}", unit="sent", file=sys.stderr) as bar:
        for start in range(0, len(texts), chunk):
            part = texts[start : start + chunk]
            out.extend(fn(part))
            bar.update(len(part))
    return out


def preprocess_texts(
    texts: Sequence[str],
    steps: Sequence[str],
    *,
    cache_dir: Path | None = None,
    speller_cache: str | None = None,
    progress: bool = False,
) -> list[str]:
    """Preprocess ``texts`` through ``steps``, computing only sentences not already in the cache."""
    pipeline = Pipeline(list(steps), speller_cache)
    if not pipeline.steps:
        return list(texts)
    unique = list(dict.fromkeys(texts))
    with open_cache(Path(cache_dir) if cache_dir is not None else default_cache_dir()) as conn:
        done = cache_get(conn, pipeline.key, unique)
        missing = [s for s in unique if s not in done]
        if missing:
            results = pipeline.run(missing, progress=progress)
            cache_put(conn, pipeline.key, zip(missing, results, strict=True))
            done.update(zip(missing, results, strict=True))
    return [done[t] for t in texts]


def _check_sentences(table: pd.DataFrame, where: str) -> None:
    missing = [c for c in SENTENCE_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(
            f"{where}: missing column(s) {', '.join(missing)}; found {', '.join(map(str, table.columns))}"
        )
    for col in SENTENCE_COLUMNS:
        bad = [i for i, v in enumerate(table[col].tolist()) if not isinstance(v, str)]
        if bad:
            raise ValueError(
                f"{where}: column {col!r} row {bad[0] + 1} is {table[col].iloc[bad[0]]!r}, not text "
                f"({len(bad)} such row(s)); fill or drop those rows"
            )


def preprocess_table(
    table: pd.DataFrame,
    steps: Sequence[str],
    *,
    cache_dir: Path | None = None,
    speller_cache: str | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Copy of ``table`` with sentence_1/sentence_2 preprocessed; other columns untouched.

    cache_dir: defaults to :func:`default_cache_dir`. Empty ``steps``: the table comes back unchanged.
    """
    names = validate_steps(steps)
    out = table.copy()
    if not names:
        return out
    _check_sentences(table, "preprocess_table")
    n = len(table)
    texts = table["sentence_1"].tolist() + table["sentence_2"].tolist()
    done = preprocess_texts(texts, names, cache_dir=cache_dir, speller_cache=speller_cache, progress=progress)
    out["sentence_1"] = done[:n]
    out["sentence_2"] = done[n:]
    return out


# ---------------------------------------------------------------------------------------------------------
# CLI


def _parse_steps(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def _validate_input(path: Path) -> None:
    """As the trainer would: a competition CSV is read by its reader (ids, sentences, labels); any other CSV
    needs non-empty sentence_1/sentence_2 in every row. Each problem names the file, row and column."""
    from trainables.data import COMPETITION_TEST, DataError, check_csv, read_table

    try:
        check_csv(path, SENTENCE_COLUMNS)
        with open(path, encoding="utf-8-sig") as f:
            header = [c.strip() for c in f.readline().split(",")]
        if set(COMPETITION_TEST) <= set(header):
            read_table(path, "competition", require_label=False)
    except DataError as exc:
        raise ValueError(f"input file {exc}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Preprocess sentence_1/sentence_2 of a CSV (other columns kept as they are).",
    )
    parser.add_argument("--input", required=True, type=Path, help="CSV with at least sentence_1,sentence_2")
    parser.add_argument("--output", required=True, type=Path, help="CSV to write (UTF-8, same columns)")
    parser.add_argument(
        "--steps", required=True, help=f"comma-separated, applied in order; valid: {','.join(PREPROCESS_STEPS.names())}"
    )
    parser.add_argument("--speller-cache", default=None, help="sentence,corrected CSV for speller_cache")
    parser.add_argument("--cache-dir", type=Path, default=None, help=f"default: {default_cache_dir()}")
    args = parser.parse_args(argv)
    try:
        steps = validate_steps(_parse_steps(args.steps))
        check_output(args.output, is_file=True, min_free_mb=10)  # before any work; leaves nothing behind
        _validate_input(args.input)
        # dtype=str + no NA parsing: every other column is written back byte-for-byte as read.
        table = pd.read_csv(args.input, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        out = preprocess_table(
            table, steps, cache_dir=args.cache_dir, speller_cache=args.speller_cache, progress=True
        )
        atomic_write_text(args.output, out.to_csv(index=False, lineterminator="\n"))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    changed = sum(int((out[c] != table[c]).sum()) for c in SENTENCE_COLUMNS)
    print(f"wrote {args.output} ({len(out)} rows, {changed} sentences changed)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
