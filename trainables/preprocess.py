"""Korean sentence preprocessing: named, ordered, versioned steps with an on-disk cache.

Steps (applied in the order given):

- ``emoji``         remove emoji (``emoji.replace_emoji``)
- ``jamo_runs``     put spaces around runs of Hangul compatibility jamo (``맞았ㅋㅋ`` -> ``맞았 ㅋㅋ``)
- ``repeats``       collapse a character (or 2-character unit) repeated 3+ times to two; digits untouched
- ``spacing``       Kiwi word spacing (kiwipiepy, offline)
- ``typos``         Kiwi typo correction (opt-in, 3-4x slower than spacing)
- ``speller_cache`` replace sentences by corrections read from a ``sentence,corrected`` CSV produced by an
                    online speller elsewhere (exact match on the text as it reaches this step; never a
                    network call)
- ``emoticons``     soynlp ``emoticon_normalize`` (optional extra, GPL-3: ``pip install -e .[soynlp]``)
- ``whitespace``    strip and collapse runs of whitespace

Results are cached per (chain of step name + version [+ speller file hash], sentence) in one sqlite file
under the cache dir, so tuning over preprocessing choices pays the Kiwi cost once per chain.

CLI::

    python trainables/preprocess.py --input X.csv --output Y.csv --steps emoji,jamo_runs,repeats,spacing
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import json
import os
import re
import sqlite3
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from trainables.fileio import atomic_write_text

VALID_STEPS: tuple[str, ...] = (
    "emoji",
    "jamo_runs",
    "repeats",
    "spacing",
    "typos",
    "speller_cache",
    "emoticons",
    "whitespace",
)

SENTENCE_COLUMNS: tuple[str, str] = ("sentence_1", "sentence_2")

# Bump a step's own version when its code changes behaviour: that invalidates its cached results.
_STEP_CODE_VERSIONS: dict[str, str] = {
    "emoji": "1",
    "jamo_runs": "1",
    "repeats": "1",
    "spacing": "1",
    "typos": "1",
    "speller_cache": "1",
    "emoticons": "1",
    "whitespace": "1",
}
# Library versions are part of a step's version: a new emoji table or Kiwi model changes outputs.
_STEP_LIBRARIES: dict[str, tuple[str, ...]] = {
    "emoji": ("emoji",),
    "spacing": ("kiwipiepy", "kiwipiepy_model"),
    "typos": ("kiwipiepy", "kiwipiepy_model"),
    "emoticons": ("soynlp",),
}

_SOYNLP_HINT = "the 'emoticons' step needs soynlp (GPL-3, optional): pip install -e .[soynlp]"

# Hangul compatibility jamo (ㄱ..ㆎ), the block chat laughter/crying (ㅋㅋ, ㅠㅠ) is typed in.
_JAMO = "\u3131-\u318e"
_JAMO_RUN_LEFT = re.compile(rf"(?<=[^\W{_JAMO}])(?=[{_JAMO}])")
_JAMO_RUN_RIGHT = re.compile(rf"(?<=[{_JAMO}])(?=[^\W{_JAMO}])")
# [^\d\s]: digit runs carry meaning (100000원) and whitespace is the whitespace step's business.
_REPEAT_CHAR = re.compile(r"([^\d\s])\1{2,}")
_REPEAT_PAIR = re.compile(r"([^\d\s]{2})\1{2,}")
_WHITESPACE = re.compile(r"\s+")
_DIGIT_RUN = re.compile(r"\d+")


def default_cache_dir() -> Path:
    """``$STS_TUNE_CACHE/preprocess`` when the variable is set, else ``~/.cache/sts-tune/preprocess``."""
    root = os.environ.get("STS_TUNE_CACHE")
    if root:
        return Path(root).expanduser() / "preprocess"
    return Path.home() / ".cache" / "sts-tune" / "preprocess"


def _soynlp_available() -> bool:
    try:
        import soynlp.normalizer  # noqa: F401
    except ImportError:
        return False
    return True


def validate_steps(steps: Sequence[str]) -> list[str]:
    """Return ``steps`` as a list; raise ValueError naming any unknown step and listing the valid ones."""
    if isinstance(steps, str):
        raise ValueError(
            f"preprocessing steps must be a list of names, not the string {steps!r}; "
            f"split it on commas (valid steps: {', '.join(VALID_STEPS)})"
        )
    names = [str(s).strip() for s in steps]
    unknown = [s for s in names if s not in VALID_STEPS]
    if unknown:
        raise ValueError(
            f"unknown preprocessing step(s) {', '.join(map(repr, unknown))}; "
            f"valid steps are: {', '.join(VALID_STEPS)}"
        )
    dupes = sorted({s for s in names if names.count(s) > 1})
    if dupes:
        # A repeated step is almost surely a config typo; every step is idempotent anyway.
        raise ValueError(f"preprocessing step(s) listed more than once: {', '.join(dupes)}; list each once")
    if "emoticons" in names and not _soynlp_available():
        raise ValueError(_SOYNLP_HINT)
    return names


def _library_version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        if dist == "soynlp":
            raise ValueError(_SOYNLP_HINT) from None
        raise ValueError(
            f"preprocessing needs the package {dist!r}: pip install -r requirements.txt"
        ) from None


def step_version(name: str) -> str:
    """Version string of one step: its code version plus the versions of the libraries it calls."""
    validate_steps([name])
    parts = [_STEP_CODE_VERSIONS[name]]
    parts += [f"{dist}-{_library_version(dist)}" for dist in _STEP_LIBRARIES.get(name, ())]
    return "/".join(parts)


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


# ---------------------------------------------------------------------------------------------------------
# Steps. Each is a batch function list[str] -> list[str] of the same length.


def remove_emoji(texts: list[str]) -> list[str]:
    import emoji

    return [emoji.replace_emoji(t, replace="") for t in texts]


def pad_jamo_runs(text: str) -> str:
    """``맞았ㅋㅋ`` -> ``맞았 ㅋㅋ``: a tokenizer (and soynlp) then sees the word and the laughter apart."""
    return _JAMO_RUN_RIGHT.sub(" ", _JAMO_RUN_LEFT.sub(" ", text))


def collapse_repeats(text: str) -> str:
    """``ㅋㅋㅋㅋ`` -> ``ㅋㅋ``, ``ㅎㅋㅎㅋㅎㅋ`` -> ``ㅎㅋㅎㅋ``; digit runs (``100000``) never shrink."""
    return _REPEAT_PAIR.sub(r"\1\1", _REPEAT_CHAR.sub(r"\1\1", text))


def normalize_whitespace(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def _make_kiwi() -> Any:
    # Imported lazily: building Kiwi loads its model (~2 s), pointless when every sentence is cached.
    from kiwipiepy import Kiwi

    return Kiwi()


_KIWI: Any = None


def _kiwi() -> Any:
    global _KIWI
    if _KIWI is None:
        _KIWI = _make_kiwi()
    return _KIWI


def kiwi_space(texts: list[str]) -> list[str]:
    # One call over the whole batch lets Kiwi use its worker threads.
    return list(_kiwi().space(texts, reset_whitespace=False))


def kiwi_typos(texts: list[str]) -> list[str]:
    # kiwipiepy >= 0.23 takes `typos` per tokenize call (the Kiwi(typos=...) constructor form is deprecated).
    # Joining Token objects (not (form, tag) pairs) keeps the sentence's own spacing where it was right.
    kiwi = _kiwi()
    return [kiwi.join(tokens) for tokens in kiwi.tokenize(texts, typos="basic")]


def _is_consonant_jamo(c: str) -> bool:
    return 0x3131 <= ord(c) <= 0x314E


def _would_soynlp_drop(text: str, i: int, decompose: Callable[[str], tuple[str, str, str]]) -> bool:
    """Mirror soynlp 0.0.493 ``emoticon_normalize``: True when it would silently delete syllable ``i``.

    It deletes a syllable next to a consonant jamo unless the syllable ends (or starts) with that jamo:
    ``맞았ㅋㅋ`` -> ``맞ㅋㅋ``. Its wanted cases (``앜ㅋㅋ`` -> ``아ㅋㅋ``) are kept.
    """

    def kind(c: str) -> int:
        o = ord(c)
        if 0x3131 <= o <= 0x314E:
            return 0  # consonant jamo
        if 0x314F <= o <= 0x3163:
            return 1  # vowel jamo
        if 0xAC00 <= o <= 0xD7A3:
            return 2  # syllable
        return -1

    if kind(text[i]) != 2:
        return False
    last = len(text) - 1
    prev_kind = kind(text[i - 1]) if i > 0 else -1
    next_kind = kind(text[i + 1]) if i < last else -1
    cho, _jung, jong = decompose(text[i])
    if prev_kind == 0 and next_kind == 1:
        return False
    if next_kind == 0:
        return jong != text[i + 1]
    if prev_kind == 0:
        return cho != text[i - 1]
    return False


def soynlp_emoticons(texts: list[str]) -> list[str]:
    try:
        from soynlp.hangle import decompose
        from soynlp.normalizer import emoticon_normalize
    except ImportError:
        raise ValueError(_SOYNLP_HINT) from None
    out = []
    for text in texts:
        # Guard 1: pad a syllable away from the jamo run only where soynlp would delete it.
        padded: list[str] = []
        for i, c in enumerate(text):
            if _would_soynlp_drop(text, i, decompose):
                if i > 0 and _is_consonant_jamo(text[i - 1]):
                    padded.append(" ")
                padded.append(c)
                if i < len(text) - 1 and _is_consonant_jamo(text[i + 1]):
                    padded.append(" ")
            else:
                padded.append(c)
        work = "".join(padded)
        # Guard 2: soynlp shortens any repeated word char, digits included (100000원 -> 100원), so digit
        # runs go through as one private-use character that its patterns do not touch.
        marker = next(chr(cp) for cp in range(0xE000, 0xF900) if chr(cp) not in work)
        digits = _DIGIT_RUN.findall(work)
        normalized = emoticon_normalize(_DIGIT_RUN.sub(marker, work), num_repeats=2)
        restored = iter(digits)
        out.append("".join(next(restored) if c == marker else c for c in normalized))
    return out


def _per_text(fn: Callable[[str], str]) -> Callable[[list[str]], list[str]]:
    def batch(texts: list[str]) -> list[str]:
        return [fn(t) for t in texts]

    return batch


# ---------------------------------------------------------------------------------------------------------
# Small CSV reader with row/column error messages (also used by trainables/augment.py).


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


def load_speller_cache(path: str | os.PathLike[str]) -> dict[str, str]:
    """``sentence -> corrected`` from a ``sentence,corrected`` CSV; conflicting duplicates are an error."""
    mapping: dict[str, str] = {}
    first_row: dict[str, str] = {}
    for row in read_text_csv(path, ("sentence", "corrected"), what="speller cache"):
        sentence, corrected = row["sentence"], row["corrected"]
        if sentence in mapping and mapping[sentence] != corrected:
            raise ValueError(
                f"speller cache file {str(path)!r} row {row['_row']} column 'corrected' disagrees with row "
                f"{first_row[sentence]} for the same sentence {sentence!r}; keep one correction"
            )
        mapping.setdefault(sentence, corrected)
        first_row.setdefault(sentence, row["_row"])
    return mapping


def _build_step(name: str, speller_cache: str | None) -> Callable[[list[str]], list[str]]:
    if name == "emoji":
        return remove_emoji
    if name == "jamo_runs":
        return _per_text(pad_jamo_runs)
    if name == "repeats":
        return _per_text(collapse_repeats)
    if name == "spacing":
        return kiwi_space
    if name == "typos":
        return kiwi_typos
    if name == "speller_cache":
        if speller_cache is None:
            raise ValueError("the 'speller_cache' step needs a speller cache file (sentence,corrected CSV)")
        mapping = load_speller_cache(speller_cache)
        return _per_text(lambda t: mapping.get(t, t))
    if name == "emoticons":
        return soynlp_emoticons
    if name == "whitespace":
        return _per_text(normalize_whitespace)
    raise ValueError(f"unknown preprocessing step {name!r}; valid steps are: {', '.join(VALID_STEPS)}")


@dataclass
class Pipeline:
    """A validated chain of steps; ``run`` transforms a batch of texts without touching the cache."""

    steps: list[str]
    speller_cache: str | None = None
    key: str = field(init=False)
    _fns: list[tuple[str, Callable[[list[str]], list[str]]]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.steps = validate_steps(self.steps)
        self.key = pipeline_key(self.steps, self.speller_cache)
        self._fns = [(name, _build_step(name, self.speller_cache)) for name in self.steps]

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


def _with_progress(fn: Callable[[list[str]], list[str]], texts: list[str], name: str) -> list[str]:
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


# ---------------------------------------------------------------------------------------------------------
# Cache: one sqlite file, rows (chain key, sentence) -> result. sqlite gives atomic commits and safe
# concurrent readers/writers (several drivers sharing a cache dir) without a lock file of our own.

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS results ("
    "chain TEXT NOT NULL, sentence TEXT NOT NULL, result TEXT NOT NULL, PRIMARY KEY (chain, sentence)"
    ") WITHOUT ROWID"
)
_SQL_CHUNK = 500  # stays under sqlite's host-parameter limit on old builds (999)


@contextlib.contextmanager
def _open_cache(cache_dir: Path) -> Iterator[sqlite3.Connection]:
    cache_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(cache_dir / "preprocess.sqlite3", timeout=60)
    try:
        conn.execute(_SCHEMA)
        yield conn
    finally:
        conn.close()


def _cache_get(conn: sqlite3.Connection, key: str, sentences: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for start in range(0, len(sentences), _SQL_CHUNK):
        part = sentences[start : start + _SQL_CHUNK]
        marks = ",".join("?" * len(part))
        query = f"SELECT sentence, result FROM results WHERE chain = ? AND sentence IN ({marks})"
        found.update(conn.execute(query, [key, *part]).fetchall())
    return found


def _cache_put(conn: sqlite3.Connection, key: str, pairs: Iterable[tuple[str, str]]) -> None:
    with conn:  # one transaction: all of this run's results or none
        conn.executemany(
            "INSERT OR REPLACE INTO results (chain, sentence, result) VALUES (?, ?, ?)",
            ((key, s, r) for s, r in pairs),
        )


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
    with _open_cache(Path(cache_dir) if cache_dir is not None else default_cache_dir()) as conn:
        done = _cache_get(conn, pipeline.key, unique)
        missing = [s for s in unique if s not in done]
        if missing:
            results = pipeline.run(missing, progress=progress)
            _cache_put(conn, pipeline.key, zip(missing, results, strict=True))
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Preprocess sentence_1/sentence_2 of a CSV (other columns kept as they are).",
    )
    parser.add_argument("--input", required=True, type=Path, help="CSV with at least sentence_1,sentence_2")
    parser.add_argument("--output", required=True, type=Path, help="CSV to write (UTF-8, same columns)")
    parser.add_argument(
        "--steps", required=True, help=f"comma-separated, applied in order; valid: {','.join(VALID_STEPS)}"
    )
    parser.add_argument("--speller-cache", default=None, help="sentence,corrected CSV for speller_cache")
    parser.add_argument("--cache-dir", type=Path, default=None, help=f"default: {default_cache_dir()}")
    args = parser.parse_args(argv)
    try:
        steps = validate_steps(_parse_steps(args.steps))
        try:
            # dtype=str + no NA parsing: every other column is written back byte-for-byte as read.
            table = pd.read_csv(args.input, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        except FileNotFoundError:
            raise ValueError(f"input file {str(args.input)!r} does not exist") from None
        except UnicodeDecodeError:
            raise ValueError(
                f"input file {str(args.input)!r} is not UTF-8 text; re-save it as UTF-8"
            ) from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise ValueError(f"input file {str(args.input)!r} is not valid CSV: {exc}") from None
        _check_sentences(table, f"input file {str(args.input)!r}")
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
