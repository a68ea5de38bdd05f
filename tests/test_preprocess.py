from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from trainables import preprocess, textsteps
from trainables.preprocess import (
    pipeline_key,
    preprocess_table,
    validate_steps,
)
from trainables.registry import PREPROCESS_STEPS

SCRIPT = Path(preprocess.__file__)
BASIC = ["emoji", "jamo_runs", "repeats", "spacing"]


def _table(s1: list[str], s2: list[str] | None = None) -> pd.DataFrame:
    s2 = s2 if s2 is not None else ["문장"] * len(s1)
    return pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(len(s1))],
            "source": ["t"] * len(s1),
            "sentence_1": s1,
            "sentence_2": s2,
            "label": [float(i % 6) for i in range(len(s1))],
        }
    )


class CountingKiwi:
    """The real Kiwi, counting how many sentences reach it (proves cache hits without timing)."""

    def __init__(self, kiwi: object) -> None:
        self.kiwi = kiwi
        self.sentences = 0

    def space(self, texts: list[str], **kwargs: object) -> list[str]:
        texts = list(texts)
        self.sentences += len(texts)
        return list(self.kiwi.space(texts, **kwargs))

    def tokenize(self, texts: list[str], **kwargs: object) -> object:
        texts = list(texts)
        self.sentences += len(texts)
        return self.kiwi.tokenize(texts, **kwargs)

    def join(self, tokens: object) -> str:
        return self.kiwi.join(tokens)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    # Never touch the user's ~/.cache, even in tests that rely on the default cache dir.
    monkeypatch.setenv("STS_TUNE_CACHE", str(tmp_path_factory.mktemp("sts-tune-cache")))


@pytest.fixture(scope="module")
def real_kiwi() -> object:
    return textsteps._kiwi()


@pytest.fixture
def counting_kiwi(real_kiwi: object, monkeypatch: pytest.MonkeyPatch) -> CountingKiwi:
    counter = CountingKiwi(real_kiwi)
    monkeypatch.setattr(textsteps, "_kiwi", lambda: counter)
    return counter


def test_expected_examples(tmp_path: Path, counting_kiwi: CountingKiwi) -> None:
    table = _table(["맞았ㅋㅋ", "100000원 입금했어요😀", "스릴도있고 반전도 있고"])
    out = preprocess_table(table, BASIC, cache_dir=tmp_path)
    s1 = out["sentence_1"].tolist()
    assert s1[0] == "맞았 ㅋㅋ"
    assert "100000원" in s1[1] and "😀" not in s1[1]
    assert s1[2].startswith("스릴도 있고")
    # other columns untouched, input not modified
    pd.testing.assert_frame_equal(
        out.drop(columns=["sentence_1", "sentence_2"]), table.drop(columns=["sentence_1", "sentence_2"])
    )
    assert table["sentence_1"].iloc[0] == "맞았ㅋㅋ"


def test_single_steps() -> None:
    assert textsteps.pad_jamo_runs("맞았ㅋㅋ진짜") == "맞았 ㅋㅋ 진짜"
    assert textsteps.pad_jamo_runs("ㅋㅋ 좋아") == "ㅋㅋ 좋아"
    assert textsteps.collapse_repeats("ㅋㅋㅋㅋㅋ 좋아!!!!") == "ㅋㅋ 좋아!!"
    assert textsteps.collapse_repeats("ㅎㅋㅎㅋㅎㅋ") == "ㅎㅋㅎㅋ"
    assert textsteps.collapse_repeats("100000원 1111") == "100000원 1111"
    assert textsteps.normalize_whitespace("  a \t b\n") == "a b"
    assert textsteps.remove_emoji(["좋아요😀👍"]) == ["좋아요"]


def test_empty_steps_return_table_unchanged(tmp_path: Path) -> None:
    table = _table(["맞았ㅋㅋ"])
    out = preprocess_table(table, [], cache_dir=tmp_path)
    pd.testing.assert_frame_equal(out, table)
    assert not (tmp_path / "preprocess.sqlite3").exists()


def test_step_that_empties_a_sentence_keeps_the_original(tmp_path: Path) -> None:
    out = preprocess_table(_table(["😀😀", "좋아😀"]), ["emoji", "whitespace"], cache_dir=tmp_path)
    assert out["sentence_1"].tolist() == ["😀😀", "좋아"]


def test_cache_is_hit_on_second_run(tmp_path: Path, counting_kiwi: CountingKiwi) -> None:
    table = _table(["스릴도있고 반전도 있고", "맞았ㅋㅋ"], ["재밌었어요", "맞았ㅋㅋ"])
    first = preprocess_table(table, BASIC, cache_dir=tmp_path)
    assert counting_kiwi.sentences == 3  # unique sentences only
    second = preprocess_table(table, BASIC, cache_dir=tmp_path)
    assert counting_kiwi.sentences == 3
    pd.testing.assert_frame_equal(first, second)
    # one new sentence: only it is computed
    preprocess_table(_table(["스릴도있고 반전도 있고", "새 문장입니다"]), BASIC, cache_dir=tmp_path)
    assert counting_kiwi.sentences == 5  # "새 문장입니다" and "문장"
    # another chain has its own entries
    preprocess_table(table, ["spacing"], cache_dir=tmp_path)
    assert counting_kiwi.sentences == 8


def test_cache_dir_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STS_TUNE_CACHE", str(tmp_path))
    assert preprocess.default_cache_dir() == tmp_path / "preprocess"
    preprocess_table(_table(["a  b"]), ["whitespace"])
    assert (tmp_path / "preprocess" / "preprocess.sqlite3").exists()


def test_unknown_step_lists_valid_ones() -> None:
    with pytest.raises(ValueError, match="spaceing") as exc:
        validate_steps(["emoji", "spaceing"])
    for name in PREPROCESS_STEPS.names():
        assert name in str(exc.value)
    with pytest.raises(ValueError, match="valid steps"):
        preprocess_table(_table(["x"]), ["nope"])
    with pytest.raises(ValueError, match="more than once"):
        validate_steps(["emoji", "emoji"])


def test_pipeline_key_stable_and_sensitive(tmp_path: Path) -> None:
    key = pipeline_key(BASIC)
    assert key == pipeline_key(list(BASIC))
    assert all(c in "0123456789abcdef" for c in key)
    assert key != pipeline_key(list(reversed(BASIC)))
    assert key != pipeline_key(BASIC[:-1])
    f = tmp_path / "speller.csv"
    f.write_text("sentence,corrected\n외않돼,왜 안 돼\n", encoding="utf-8")
    k1 = pipeline_key(["speller_cache"], str(f))
    f.write_text("sentence,corrected\n외않돼,왜 안돼\n", encoding="utf-8")
    assert pipeline_key(["speller_cache"], str(f)) != k1
    # the file only counts when its step is listed
    assert pipeline_key(BASIC, str(f)) == key


def test_speller_cache_applies_corrections(tmp_path: Path) -> None:
    f = tmp_path / "speller.csv"
    f.write_text('\ufeffsentence,corrected\r\n외않돼요,왜 안 돼요\r\n"a, b",a b\r\n', encoding="utf-8")
    out = preprocess_table(
        _table(["외않돼요", "그대로", "a, b"]), ["speller_cache"], cache_dir=tmp_path, speller_cache=str(f)
    )
    assert out["sentence_1"].tolist() == ["왜 안 돼요", "그대로", "a b"]
    with pytest.raises(ValueError, match="needs a speller cache file"):
        preprocess_table(_table(["x"]), ["speller_cache"], cache_dir=tmp_path)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("sentence,fixed\n가,나\n", r"missing corrected"),
        ("sentence,corrected\n가,나\n다\n", r"row 2 \(line 3\)"),
        ("sentence,corrected\n가,나\n다,\n", r"row 2 \(line 3\) column 'corrected' is empty"),
        ("sentence,corrected\n가,나\n가,다\n", r"row 2 column 'corrected' disagrees with row 1"),
        ("", r"is empty"),
    ],
)
def test_malformed_speller_cache(tmp_path: Path, content: str, match: str) -> None:
    f = tmp_path / "bad.csv"
    f.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=match) as exc:
        preprocess_table(_table(["가"]), ["speller_cache"], cache_dir=tmp_path, speller_cache=str(f))
    assert "bad.csv" in str(exc.value)


def test_missing_or_non_utf8_speller_cache(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        preprocess_table(
            _table(["가"]), ["speller_cache"], cache_dir=tmp_path, speller_cache=str(tmp_path / "x")
        )
    f = tmp_path / "cp949.csv"
    f.write_bytes("sentence,corrected\n가,나\n".encode("cp949"))
    with pytest.raises(ValueError, match="not UTF-8"):
        preprocess_table(_table(["가"]), ["speller_cache"], cache_dir=tmp_path, speller_cache=str(f))


def test_non_text_sentence_names_row_and_column(tmp_path: Path) -> None:
    table = _table(["a", "b"])
    table.loc[1, "sentence_2"] = None
    with pytest.raises(ValueError, match="'sentence_2' row 2"):
        preprocess_table(table, ["whitespace"], cache_dir=tmp_path)


def test_typos_step(tmp_path: Path, counting_kiwi: CountingKiwi) -> None:
    out = preprocess_table(_table(["외않됀데?", "숙소 위치는 찾기 쉽다."]), ["typos"], cache_dir=tmp_path)
    assert out["sentence_1"].tolist()[1] == "숙소 위치는 찾기 쉽다."
    assert out["sentence_1"].tolist()[0] != "외않됀데?"
    assert counting_kiwi.sentences == 3


def test_emoticons_without_soynlp_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes the import fail as if the package were absent.
    monkeypatch.setitem(sys.modules, "soynlp", None)
    monkeypatch.setitem(sys.modules, "soynlp.normalizer", None)
    with pytest.raises(ValueError, match=r"pip install -e \.\[soynlp\]"):
        validate_steps(["emoji", "emoticons"])


def test_emoticons_with_soynlp(tmp_path: Path) -> None:
    pytest.importorskip("soynlp")
    out = textsteps.soynlp_emoticons(["맞았ㅋㅋ", "ㅋㅋ맞았", "100000원 입금 ㅋㅋㅋㅋ", "앜ㅋㅋㅋ"])
    assert "맞았" in out[0] and "맞았" in out[1]
    assert out[2] == "100000원 입금 ㅋㅋ"
    assert out[3] == "아ㅋㅋ"  # what soynlp is for still works
    table = preprocess_table(_table(["맞았ㅋㅋ", "100000원"]), ["emoticons"], cache_dir=tmp_path)
    assert table["sentence_1"].tolist() == ["맞았 ㅋㅋ", "100000원"]


def _write_competition_csv(path: Path) -> None:
    rows = [
        "id,source,sentence_1,sentence_2,label,binary-label",
        'boostcamp-sts-v1-train-000,nsmc-sampled,맞았ㅋㅋㅋㅋ,"스릴도있고 반전도 있고, 최고😀",2.20,0.0',
        "boostcamp-sts-v1-train-001,slack-rtt,100000원 입금했어요😀,입금 완료,4.00,1.0",
    ]
    path.write_bytes(("\ufeff" + "\r\n".join(rows) + "\r\n").encode("utf-8"))


def test_cli_end_to_end(tmp_path: Path) -> None:
    src, dst = tmp_path / "in.csv", tmp_path / "out" / "pre.csv"
    _write_competition_csv(src)
    rc = preprocess.main(
        ["--input", str(src), "--output", str(dst), "--steps", "emoji,jamo_runs,repeats,spacing",
         "--cache-dir", str(tmp_path / "cache")]
    )  # fmt: skip
    assert rc == 0
    out = pd.read_csv(dst, dtype=str, keep_default_na=False)
    assert list(out.columns) == ["id", "source", "sentence_1", "sentence_2", "label", "binary-label"]
    assert out["label"].tolist() == ["2.20", "4.00"]  # written back as read
    assert out["sentence_1"].tolist() == ["맞았 ㅋㅋ", "100000원 입금했어요"]
    assert out["sentence_2"].iloc[0].startswith("스릴도 있고")
    assert not dst.read_bytes().startswith(b"\xef\xbb\xbf")


def test_cli_bad_input_leaves_no_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    _write_competition_csv(src)
    assert preprocess.main(["--input", str(src), "--output", str(dst), "--steps", "emoji,bogus"]) == 2
    assert "valid steps" in capsys.readouterr().err
    src.write_text("id,text\n1,가\n", encoding="utf-8")
    assert preprocess.main(["--input", str(src), "--output", str(dst), "--steps", "emoji"]) == 2
    assert "sentence_1" in capsys.readouterr().err
    assert not dst.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["in.csv"]


def test_cli_runs_as_script_from_any_directory(tmp_path: Path) -> None:
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    _write_competition_csv(src)
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--input", str(src), "--output", str(dst),
         "--steps", "emoji,jamo_runs,repeats,whitespace", "--cache-dir", str(tmp_path / "c")],
        cwd=cwd, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = pd.read_csv(dst, dtype=str, keep_default_na=False)
    assert out["sentence_1"].tolist() == ["맞았 ㅋㅋ", "100000원 입금했어요"]
