"""Korean sentence preprocessing steps, each registered under its name with a version (trainables/registry.py).

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

A step is a builder returning a batch function list[str] -> list[str] of the same length. Its version (plus
the versions of the libraries it calls) is part of the cache key: bump it when the step's output changes.
Adding a step = one `@PREPROCESS_STEPS.register(...)` here (or anywhere imported before use).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Any

from trainables.csvtext import read_text_csv
from trainables.registry import PREPROCESS_STEPS

BatchFn = Callable[[list[str]], list[str]]

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


def _soynlp_available() -> bool:
    try:
        import soynlp.normalizer  # noqa: F401
    except ImportError:
        return False
    return True


def _require_soynlp() -> None:
    if not _soynlp_available():
        raise ValueError(_SOYNLP_HINT)


def validate_steps(steps: Sequence[str]) -> list[str]:
    """Return ``steps`` as a list; raise ValueError naming any unknown step and listing the valid ones."""
    valid = PREPROCESS_STEPS.names()
    if isinstance(steps, str):
        raise ValueError(
            f"preprocessing steps must be a list of names, not the string {steps!r}; "
            f"split it on commas (valid steps: {', '.join(valid)})"
        )
    names = [str(s).strip() for s in steps]
    unknown = [s for s in names if s not in valid]
    if unknown:
        raise ValueError(
            f"unknown preprocessing step(s) {', '.join(map(repr, unknown))}; "
            f"valid steps are: {', '.join(valid)}"
        )
    dupes = sorted({s for s in names if names.count(s) > 1})
    if dupes:
        # A repeated step is almost surely a config typo; every step is idempotent anyway.
        raise ValueError(f"preprocessing step(s) listed more than once: {', '.join(dupes)}; list each once")
    for name in names:
        check = PREPROCESS_STEPS.get(name).meta.get("check")
        if check is not None:
            check()  # e.g. an optional library that is not installed
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
    meta = PREPROCESS_STEPS.get(name).meta
    parts = [str(meta.get("version", "1"))]
    parts += [f"{dist}-{_library_version(dist)}" for dist in meta.get("libraries", ())]
    return "/".join(parts)


# ---------------------------------------------------------------------------------------------------------
# The text functions. Each batch function maps list[str] -> list[str] of the same length.


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


# ---------------------------------------------------------------------------------------------------------
# The registry entries, in the order the docs list them.


@PREPROCESS_STEPS.register("emoji", version="1", libraries=("emoji",))
def _emoji() -> BatchFn:
    return remove_emoji


@PREPROCESS_STEPS.register("jamo_runs", version="1")
def _jamo_runs() -> BatchFn:
    return _per_text(pad_jamo_runs)


@PREPROCESS_STEPS.register("repeats", version="1")
def _repeats() -> BatchFn:
    return _per_text(collapse_repeats)


@PREPROCESS_STEPS.register("spacing", version="1", libraries=("kiwipiepy", "kiwipiepy_model"))
def _spacing() -> BatchFn:
    return kiwi_space


@PREPROCESS_STEPS.register("typos", version="1", libraries=("kiwipiepy", "kiwipiepy_model"))
def _typos() -> BatchFn:
    return kiwi_typos


@PREPROCESS_STEPS.register("speller_cache", knobs=("speller_cache",), version="1")
def _speller(speller_cache: str | None = None) -> BatchFn:
    if speller_cache is None:
        raise ValueError("the 'speller_cache' step needs a speller cache file (sentence,corrected CSV)")
    mapping = load_speller_cache(speller_cache)
    return _per_text(lambda t: mapping.get(t, t))


@PREPROCESS_STEPS.register("emoticons", version="1", libraries=("soynlp",), check=_require_soynlp)
def _emoticons() -> BatchFn:
    return soynlp_emoticons


@PREPROCESS_STEPS.register("whitespace", version="1")
def _whitespace() -> BatchFn:
    return _per_text(normalize_whitespace)
