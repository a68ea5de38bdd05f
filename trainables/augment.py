"""Augmentation of the TRAIN split (never dev/test: augmented rows would leak into the metric).

Methods (registered in ``AUGMENTATIONS``: ``(table, labels, **knobs) -> rows to append``):

- ``none``              the table as it is
- ``swap``              every pair appended once more as (sentence_2, sentence_1); rows double
- ``swap_except_zero``  the same, only for rows whose label is not 0 (train skews to 0 already)
- ``eda``               one perturbed copy per row: random swap / deletion / insertion of words in one of
                        the two sentences, ``rate`` of its words; synonym replacement joins the choices
                        when ``synonyms_path`` is given
- ``back_translation``  paraphrases read from ``paraphrases_path`` (CSV ``id,sentence_1,sentence_2``): each
                        row adds the paraphrased pair with the label of train row ``id``

File formats:

- synonyms: CSV with header ``word,synonym``, one pair a row; a word may have several rows. Words are
  whitespace-separated tokens (Korean eojeol), matched exactly.
- paraphrases: CSV with header ``id,sentence_1,sentence_2``; an id may appear several times (e.g. one
  row per pivot language); every id must be a train id.

Added rows keep every other column of their source row and get the id ``<id>#<method>[k]``.
Everything is a pure function of (table, method, seed, rate, files): the input table is not modified.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from trainables.csvtext import read_text_csv
from trainables.registry import AUGMENTATIONS

REQUIRED_COLUMNS: tuple[str, ...] = ("id", "sentence_1", "sentence_2", "label")
LABEL_BINS: tuple[str, ...] = ("0-1", "1-2", "2-3", "3-4", "4-5")


def label_histogram(labels: pd.Series) -> dict[str, int]:
    """Counts per 1-wide label bin; 5.0 falls in the last bin (4-5)."""
    hist = dict.fromkeys(LABEL_BINS, 0)
    for value in labels.tolist():
        hist[LABEL_BINS[min(math.floor(float(value)), 4)]] += 1
    return hist


@dataclass
class AugmentReport:
    method: str
    rows_before: int
    rows_added: int
    hist_before: dict[str, int] = field(default_factory=dict)
    hist_after: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in AUGMENTATIONS:
            raise ValueError(f"unknown augmentation {self.method!r}; valid: {', '.join(AUGMENTATIONS.names())}")
        if self.rows_before < 0 or self.rows_added < 0:
            raise ValueError("AugmentReport row counts must be >= 0")
        for name, hist in (("hist_before", self.hist_before), ("hist_after", self.hist_after)):
            if set(hist) != set(LABEL_BINS):
                raise ValueError(f"AugmentReport.{name} must have the bins {', '.join(LABEL_BINS)}")
        if sum(self.hist_before.values()) != self.rows_before:
            raise ValueError("AugmentReport.hist_before does not add up to rows_before")
        if sum(self.hist_after.values()) != self.rows_before + self.rows_added:
            raise ValueError("AugmentReport.hist_after does not add up to rows_before + rows_added")

    @property
    def rows_after(self) -> int:
        return self.rows_before + self.rows_added

    def format(self) -> str:
        lines = [
            f"augmentation {self.method}: {self.rows_before} -> {self.rows_after} train rows "
            f"(+{self.rows_added})",
            f"  {'label':>6} {'before':>8} {'after':>8}",
        ]
        for b in LABEL_BINS:
            lines.append(f"  {b:>6} {self.hist_before[b]:>8} {self.hist_after[b]:>8}")
        return "\n".join(lines)


def _check_table(table: pd.DataFrame) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(
            f"augment_train: table is missing column(s) {', '.join(missing)}; "
            f"found {', '.join(map(str, table.columns))}"
        )
    ids = table["id"].astype(str)
    dupes = ids[ids.duplicated()].unique().tolist()
    if dupes:
        raise ValueError(
            f"augment_train: duplicate id(s) in the train table, e.g. {dupes[:3]}; ids must be unique"
        )
    labels = pd.to_numeric(table["label"], errors="coerce")
    bad = labels.isna() | (labels < 0) | (labels > 5)
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise ValueError(
            f"augment_train: row {row + 1} (id {ids.iloc[row]!r}) has label {table['label'].iloc[row]!r}; "
            "train labels must be numbers in [0, 5] (only the train split may be augmented)"
        )
    for col in ("sentence_1", "sentence_2"):
        nontext = [i for i, v in enumerate(table[col].tolist()) if not isinstance(v, str)]
        if nontext:
            raise ValueError(f"augment_train: column {col!r} row {nontext[0] + 1} is not text")


def _swap(table: pd.DataFrame, keep: pd.Series, suffix: str) -> pd.DataFrame:
    added = table[keep].copy()
    added["sentence_1"], added["sentence_2"] = table.loc[keep, "sentence_2"], table.loc[keep, "sentence_1"]
    added["id"] = added["id"].astype(str) + suffix
    return added


# --- EDA (Wei & Zou 2019) on whitespace tokens ------------------------------------------------------------


def _random_swap(words: list[str], n: int, rng: random.Random, _syn: dict[str, list[str]]) -> list[str]:
    out = list(words)
    if len(out) < 2:
        return out
    for _ in range(n):
        i, j = rng.sample(range(len(out)), 2)
        out[i], out[j] = out[j], out[i]
    return out


def _random_deletion(words: list[str], n: int, rng: random.Random, _syn: dict[str, list[str]]) -> list[str]:
    if len(words) < 2:
        return list(words)
    # Never delete every word: an empty side of a pair would say nothing about the label.
    drop = set(rng.sample(range(len(words)), min(n, len(words) - 1)))
    return [w for i, w in enumerate(words) if i not in drop]


def _random_insertion(words: list[str], n: int, rng: random.Random, syn: dict[str, list[str]]) -> list[str]:
    # EDA inserts a synonym of a random word; without a synonym list the word itself is repeated
    # elsewhere, which still perturbs order and length without inventing vocabulary.
    out = list(words)
    for _ in range(n):
        word = rng.choice(words)
        choice = rng.choice(syn[word]) if syn.get(word) else word
        out.insert(rng.randrange(len(out) + 1), choice)
    return out


def _synonym_replacement(
    words: list[str], n: int, rng: random.Random, syn: dict[str, list[str]]
) -> list[str]:
    out = list(words)
    candidates = [i for i, w in enumerate(words) if syn.get(w)]
    for i in rng.sample(candidates, min(n, len(candidates))):
        out[i] = rng.choice(syn[words[i]])
    return out


_EdaOp = Callable[[list[str], int, random.Random, dict[str, list[str]]], list[str]]


def load_synonyms(path: str) -> dict[str, list[str]]:
    """``word -> [synonym, ...]`` from a ``word,synonym`` CSV (order of rows kept, duplicates dropped)."""
    synonyms: dict[str, list[str]] = defaultdict(list)
    for row in read_text_csv(path, ("word", "synonym"), what="synonyms"):
        word, syn = row["word"].strip(), row["synonym"].strip()
        if any(c.isspace() for c in word):
            raise ValueError(
                f"synonyms file {path!r} row {row['_row']} column 'word' is {word!r}; words are single "
                "whitespace-free tokens"
            )
        if syn != word and syn not in synonyms[word]:
            synonyms[word].append(syn)
    return dict(synonyms)


def _eda(table: pd.DataFrame, seed: int, rate: float, synonyms: dict[str, list[str]]) -> pd.DataFrame:
    ops: list[_EdaOp] = [_random_swap, _random_deletion, _random_insertion]
    if synonyms:
        ops.append(_synonym_replacement)
    rows = []
    for record in table.to_dict("records"):
        # One generator per row, seeded by (seed, id): a row's augmentation does not depend on which
        # other rows are in the table or in what order.
        rng = random.Random(f"eda:{seed}:{record['id']}")
        side = rng.choice(("sentence_1", "sentence_2"))
        words = record[side].split()
        if not words:
            continue
        op = rng.choice(ops)
        new_words = op(words, max(1, round(rate * len(words))), rng, synonyms)
        new_text = " ".join(new_words)
        if new_text == " ".join(words):
            continue  # unchanged copy (a one-word sentence, say) would only duplicate the row
        new = dict(record)
        new[side] = new_text
        new["id"] = f"{record['id']}#eda"
        rows.append(new)
    return pd.DataFrame(rows, columns=table.columns)


def _back_translation(table: pd.DataFrame, path: str) -> pd.DataFrame:
    by_id = {str(r["id"]): r for r in table.to_dict("records")}
    seen: dict[str, int] = defaultdict(int)
    rows = []
    for row in read_text_csv(path, ("id", "sentence_1", "sentence_2"), what="paraphrases"):
        pid = row["id"].strip()
        if pid not in by_id:
            raise ValueError(
                f"paraphrases file {path!r} row {row['_row']} column 'id': {pid!r} is not an id of the train "
                "table; back-translation may only paraphrase train rows (drop dev/test ids from the file)"
            )
        new = dict(by_id[pid])
        new["sentence_1"], new["sentence_2"] = row["sentence_1"], row["sentence_2"]
        new["id"] = f"{pid}#bt{seen[pid]}"
        seen[pid] += 1
        rows.append(new)
    return pd.DataFrame(rows, columns=table.columns)


# --- the registered methods: (train table, its labels, **knobs) -> rows to append ---------------------
@AUGMENTATIONS.register("none")
def _none(base: pd.DataFrame, labels: pd.Series) -> pd.DataFrame:
    return base.iloc[0:0]


@AUGMENTATIONS.register("swap")
def _swap_all(base: pd.DataFrame, labels: pd.Series) -> pd.DataFrame:
    return _swap(base, pd.Series(True, index=base.index), "#swap")


@AUGMENTATIONS.register("swap_except_zero")
def _swap_nonzero(base: pd.DataFrame, labels: pd.Series) -> pd.DataFrame:
    return _swap(base, labels != 0, "#swap")


@AUGMENTATIONS.register("eda", knobs=("seed", "rate", "synonyms_path"))
def _eda_method(
    base: pd.DataFrame, labels: pd.Series, *, seed: int, rate: float, synonyms_path: str | None
) -> pd.DataFrame:
    if not (0 <= rate <= 1):
        raise ValueError(f"eda rate must be in [0, 1], got {rate!r}")
    synonyms = load_synonyms(synonyms_path) if synonyms_path else {}
    return _eda(base, seed, rate, synonyms)


@AUGMENTATIONS.register("back_translation", knobs=("paraphrases_path",))
def _back_translation_method(base: pd.DataFrame, labels: pd.Series, *, paraphrases_path: str | None) -> pd.DataFrame:
    if not paraphrases_path:
        raise ValueError("back_translation needs paraphrases_path (CSV with columns id,sentence_1,sentence_2)")
    return _back_translation(base, paraphrases_path)


def augment_train(
    table: pd.DataFrame,
    method: str,
    *,
    seed: int,
    rate: float = 0.1,
    synonyms_path: str | None = None,
    paraphrases_path: str | None = None,
) -> tuple[pd.DataFrame, AugmentReport]:
    """Return (train table with augmented rows appended after the originals, report).

    ``seed`` and ``rate`` matter for ``eda`` only. rate in [0, 1]: fraction of a sentence's words touched,
    at least one (EDA's ``max(1, rate * n)``; so 0 still perturbs one word).
    """
    if method not in AUGMENTATIONS:
        raise ValueError(
            f"unknown augmentation {method!r}; valid methods are: {', '.join(AUGMENTATIONS.names())}"
        )
    _check_table(table)
    base = table.reset_index(drop=True).copy()
    labels = pd.to_numeric(base["label"])

    knobs = {"seed": seed, "rate": rate, "synonyms_path": synonyms_path, "paraphrases_path": paraphrases_path}
    added = AUGMENTATIONS.build(method, knobs, base, labels)

    out = pd.concat([base, added], ignore_index=True) if len(added) else base
    clash = out["id"].astype(str).duplicated()
    if clash.any():
        raise ValueError(
            f"augment_train: added id {out['id'][clash].iloc[0]!r} already exists in the train table; "
            "rename train ids that contain '#'"
        )
    report = AugmentReport(
        method=method,
        rows_before=len(base),
        rows_added=len(added),
        hist_before=label_histogram(labels),
        hist_after=label_histogram(pd.to_numeric(out["label"])),
    )
    return out, report
