from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from trainables.augment import AugmentReport, augment_train, label_histogram
from trainables.registry import AUGMENTATIONS


@pytest.fixture
def train() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["t0", "t1", "t2", "t3"],
            "source": ["nsmc", "slack", "petition", "nsmc"],
            "sentence_1": [
                "숙소 위치는 찾기 쉽고 일반적인 한국의 반지하 숙소입니다.",
                "오늘 회의는 오후 세 시에 시작합니다 모두 참석해 주세요",
                "위반행위 조사 등을 거부한 자는 과태료 부과 대상이다.",
                "영화 정말 재밌었어요 배우들 연기도 좋고",
            ],
            "sentence_2": [
                "숙박시설의 위치는 쉽게 찾을 수 있고 대표적인 반지하 숙박시설입니다.",
                "회의는 오후 세 시에 시작하니 모두 참석 바랍니다",
                "시민들 스스로 자발적인 예방 노력을 했다.",
                "배우들 연기가 좋고 영화가 재밌었어요",
            ],
            "label": [3.7, 4.2, 0.0, 5.0],
        }
    )


def test_none_returns_the_table(train: pd.DataFrame) -> None:
    out, report = augment_train(train, "none", seed=0)
    pd.testing.assert_frame_equal(out, train)
    assert (report.rows_before, report.rows_added) == (4, 0)


def test_swap_doubles_rows_with_labels_unchanged(train: pd.DataFrame) -> None:
    out, report = augment_train(train, "swap", seed=0)
    assert len(out) == 2 * len(train)
    pd.testing.assert_frame_equal(out.iloc[:4], train)
    added = out.iloc[4:].reset_index(drop=True)
    assert added["id"].tolist() == [f"{i}#swap" for i in train["id"]]
    assert added["sentence_1"].tolist() == train["sentence_2"].tolist()
    assert added["sentence_2"].tolist() == train["sentence_1"].tolist()
    assert added["label"].tolist() == train["label"].tolist()
    assert added["source"].tolist() == train["source"].tolist()
    assert out["id"].is_unique
    assert report.rows_added == 4
    assert report.hist_after == {k: 2 * v for k, v in report.hist_before.items()}


def test_swap_except_zero(train: pd.DataFrame) -> None:
    out, report = augment_train(train, "swap_except_zero", seed=0)
    added = out.iloc[4:]
    assert added["id"].tolist() == ["t0#swap", "t1#swap", "t3#swap"]
    assert (added["label"] != 0).all()
    assert report.rows_added == 3
    assert report.hist_after["0-1"] == report.hist_before["0-1"] == 1


def test_eda_deterministic_under_seed(train: pd.DataFrame) -> None:
    a, _ = augment_train(train, "eda", seed=1, rate=0.3)
    b, _ = augment_train(train, "eda", seed=1, rate=0.3)
    c, _ = augment_train(train, "eda", seed=2, rate=0.3)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)
    added = a.iloc[4:]
    assert len(added) > 0 and all(i.endswith("#eda") for i in added["id"])
    # each added row keeps its source row's label and changes exactly one side
    for _, row in added.iterrows():
        src = train.set_index("id").loc[row["id"].removesuffix("#eda")]
        assert row["label"] == src["label"]
        changed = [row[c] != src[c] for c in ("sentence_1", "sentence_2")]
        assert sum(changed) == 1


def test_eda_row_does_not_depend_on_other_rows(train: pd.DataFrame) -> None:
    full, _ = augment_train(train, "eda", seed=3)
    part, _ = augment_train(train.iloc[[2, 0]], "eda", seed=3)
    by_id = full.set_index("id")
    for _, row in part.iloc[2:].iterrows():
        assert row["sentence_1"] == by_id.loc[row["id"], "sentence_1"]


def test_eda_synonyms(train: pd.DataFrame, tmp_path: Path) -> None:
    syn = tmp_path / "syn.csv"
    words = {w for s in pd.concat([train["sentence_1"], train["sentence_2"]]) for w in s.split()}
    syn.write_text("word,synonym\n" + "".join(f"{w},{w}SYN\n" for w in sorted(words)), encoding="utf-8")
    used = False
    for seed in range(10):
        out, _ = augment_train(train, "eda", seed=seed, rate=0.5, synonyms_path=str(syn))
        used = (
            used
            or out.iloc[4:][["sentence_1", "sentence_2"]].apply(lambda c: c.str.contains("SYN")).any().any()
        )
    assert used
    bad = tmp_path / "bad.csv"
    bad.write_text("word,synonym\n두 단어,x\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.csv.*row 1.*'word'"):
        augment_train(train, "eda", seed=0, synonyms_path=str(bad))


def test_back_translation(train: pd.DataFrame, tmp_path: Path) -> None:
    para = tmp_path / "bt.csv"
    para.write_text(
        "\ufeffid,sentence_1,sentence_2\r\n"
        "t1,회의는 오후 3시에 시작합니다,회의가 오후 3시에 시작하니 참석하세요\r\n"
        "t1,회의 시작은 오후 세 시입니다,모두 회의에 참석 바랍니다\r\n"
        "t2,위반 조사를 거부한 사람은 과태료 대상,시민들이 스스로 예방에 나섰다\r\n",
        encoding="utf-8",
    )
    out, report = augment_train(train, "back_translation", seed=0, paraphrases_path=str(para))
    added = out.iloc[4:]
    assert added["id"].tolist() == ["t1#bt0", "t1#bt1", "t2#bt0"]
    assert added["label"].tolist() == [4.2, 4.2, 0.0]
    assert added["sentence_1"].iloc[0] == "회의는 오후 3시에 시작합니다"
    assert report.rows_added == 3


def test_back_translation_unknown_id_is_an_error(train: pd.DataFrame, tmp_path: Path) -> None:
    para = tmp_path / "bt.csv"
    para.write_text("id,sentence_1,sentence_2\nt0,가,나\ndev-9,가,나\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bt\.csv.*row 2.*'dev-9'"):
        augment_train(train, "back_translation", seed=0, paraphrases_path=str(para))
    with pytest.raises(ValueError, match="paraphrases_path"):
        augment_train(train, "back_translation", seed=0)


@pytest.mark.parametrize("method", AUGMENTATIONS.names())
def test_input_table_not_mutated(train: pd.DataFrame, method: str, tmp_path: Path) -> None:
    para = tmp_path / "bt.csv"
    para.write_text("id,sentence_1,sentence_2\nt0,가,나\n", encoding="utf-8")
    before = train.copy(deep=True)
    augment_train(train, method, seed=0, paraphrases_path=str(para))
    pd.testing.assert_frame_equal(train, before)


def test_unknown_method_lists_valid_ones(train: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="unknown augmentation 'mixup'") as exc:
        augment_train(train, "mixup", seed=0)
    for name in AUGMENTATIONS.names():
        assert name in str(exc.value)


def test_rejects_unlabelled_or_bad_rate(train: pd.DataFrame) -> None:
    test_like = train.assign(label=float("nan"))
    with pytest.raises(ValueError, match="row 1"):
        augment_train(test_like, "swap", seed=0)
    with pytest.raises(ValueError, match="rate"):
        augment_train(train, "eda", seed=0, rate=1.5)


def test_report_histogram_and_format(train: pd.DataFrame) -> None:
    assert label_histogram(train["label"]) == {"0-1": 1, "1-2": 0, "2-3": 0, "3-4": 1, "4-5": 2}
    _, report = augment_train(train, "swap", seed=0)
    text = report.format()
    assert "4 -> 8" in text and "4-5" in text
    with pytest.raises(ValueError, match="add up"):
        AugmentReport("swap", 4, 1, report.hist_before, report.hist_before)
