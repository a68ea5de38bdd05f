from __future__ import annotations

import numpy as np
import pytest

from trainables.data import DataError, has_labels, kfold_indices, load_splits, read_table
from trainables.paths import DEFAULT_DEV, DEFAULT_TEST, DEFAULT_TRAIN, KLUE_DEV, KLUE_TRAIN, PROJECT_ROOT

HEADER = "id,source,sentence_1,sentence_2,label,binary-label\n"
SHARED = PROJECT_ROOT.parent / "shared" / "data"


def write(tmp_path, text: str | bytes, name: str = "d.csv"):
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return p


def test_bundled_klue_csv_reads_with_official_style_ids():
    train, dev = read_table(KLUE_TRAIN), read_table(KLUE_DEV)
    assert len(train) == 11668 and len(dev) == 519
    assert train["id"].iloc[0] == "klue-sts-v1_train_00000"
    assert dev["id"].iloc[518] == "klue-sts-v1_dev_00518"
    assert list(train.columns) == ["id", "source", "sentence_1", "sentence_2", "label"]
    assert train["label"].between(0, 5).all()


def test_default_splits_carve_dev_from_train_and_test_on_the_official_dev():
    s = load_splits()
    assert len(s.train) == 11168 and len(s.dev) == 500 and len(s.test) == 519
    assert s.test_path == str(DEFAULT_TEST) and has_labels(s.test)
    full = read_table(KLUE_TRAIN).set_index("id")
    # the carved files keep the official-style ids and labels of the rows they came from, disjoint, complete
    assert set(s.train["id"]) | set(s.dev["id"]) == set(full.index)
    assert not set(s.train["id"]) & set(s.dev["id"])
    np.testing.assert_array_equal(full.loc[s.dev["id"], "label"].to_numpy(), s.dev["label"].to_numpy())
    # stratified with equal allocation, like the official dev set: 50 pairs in every 0.5-wide label bin
    assert np.histogram(s.dev["label"], bins=10, range=(0, 5))[0].tolist() == [50] * 10


def test_a_users_train_file_gets_no_default_test(tmp_path):
    s = load_splits(str(DEFAULT_TRAIN), str(DEFAULT_DEV))
    assert s.test is None


def test_competition_csv_with_bom_and_crlf(tmp_path):
    p = write(tmp_path, ("\ufeff" + HEADER + "a,x,문장 하나,문장 둘,2.5,0.0\r\nb,x,\"쉼표, 포함\",셋,4.0,1.0\r\n"))
    t = read_table(p)
    assert t["id"].tolist() == ["a", "b"]
    assert t["sentence_1"].iloc[1] == "쉼표, 포함"
    assert t["label"].tolist() == [2.5, 4.0]


def test_competition_test_file_without_labels(tmp_path):
    p = write(tmp_path, "id,source,sentence_1,sentence_2\nt1,x,가,나\n")
    t = read_table(p, require_label=False)
    assert np.isnan(t["label"].iloc[0])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("id,source,sentence_1,label,binary-label\na,x,가,1.0,0\n", r"missing column sentence_2"),
        (HEADER + "a,x,가,나,abc,0\n", r"row 2, column label: label 'abc' is not a number"),
        (HEADER + "a,x,가,나,nan,0\n", r"row 2, column label: label is NaN"),
        (HEADER + "a,x,가,나,1.0,0\nb,x,가,나,5.5,1\n", r"row 3, column label: label 5.5 is outside \[0, 5\]"),
        (HEADER + "a,x,가,나,1.0,0\nb,x,  ,나,1.0,0\n", r"row 3, column sentence_1: sentence is empty"),
        (HEADER + "a,x,가,나,1.0,0\na,x,다,라,2.0,0\n", r"row 3, column id: duplicate id 'a' \(first at row 2\)"),
        ("", r"the file is empty"),
        (HEADER, r"no data rows"),
    ],
)
def test_bad_input_names_file_row_and_column(tmp_path, body, message):
    p = write(tmp_path, body)
    with pytest.raises(DataError, match=message) as e:
        read_table(p)
    assert str(p) in str(e.value)


def test_undecodable_bytes_name_the_row(tmp_path):
    p = write(tmp_path, HEADER.encode() + b"a,x,\xea\xb0\x80,\xff\xfe,1.0,0\n")
    with pytest.raises(DataError, match=r"row 2: bytes at offset \d+ are not valid UTF-8"):
        read_table(p)


def test_ragged_row_is_reported(tmp_path):
    p = write(tmp_path, HEADER + "a,x,가,나,1.0\n")
    with pytest.raises(DataError, match="row 2: has 5 fields but the header has 6"):
        read_table(p)


def test_klue_json_official_dev_matches_csv_export():
    js = SHARED / "klue-sts" / "klue-sts-v1.1_dev.json"
    if not js.is_file():
        pytest.skip("shared KLUE JSON not present")
    a, b = read_table(js), read_table(KLUE_DEV)
    assert len(a) == 519
    assert a["id"].iloc[0] == "klue-sts-v1_dev_00000"
    assert (a["sentence_1"] == b["sentence_1"]).all()
    np.testing.assert_allclose(a["label"], b["label"])


def test_korsts_tsv_reads_every_row_with_quoting_disabled(tmp_path):
    p = write(tmp_path, 'genre\tfilename\tyear\tid\tscore\tsentence1\tsentence2\n'
                        'main-news\tx\t2012\t0001\t3.2\t"따옴표로 시작\t끝"\n'
                        'main-news\tx\t2012\t0002\t1.0\t둘\t셋\n', "sts-train.tsv")
    t = read_table(p)
    assert len(t) == 2 and t["sentence_1"].iloc[0] == '"따옴표로 시작'
    real = SHARED / "korsts" / "sts-dev.tsv"
    if real.is_file():
        assert len(read_table(real)) == 1500


def test_unknown_header_asks_for_a_format(tmp_path):
    p = write(tmp_path, "a,b,c\n1,2,3\n")
    with pytest.raises(DataError, match="cannot tell the format"):
        read_table(p)


def test_train_dev_overlap_is_found_by_content_not_by_id(tmp_path):
    rows = "".join(f"r{i},x,문장 {i},다른 문장 {i},{i % 5}.0,0\n" for i in range(20))
    a = write(tmp_path, HEADER + rows, "a.csv")
    with pytest.raises(DataError, match="all 20 dev pairs also appear"):
        load_splits(str(a), str(a))
    same_ids = "".join(f"r{i},x,새 문장 {i},또 다른 {i},{i % 5}.0,0\n" for i in range(20))
    b = write(tmp_path, HEADER + same_ids, "b.csv")
    assert load_splits(str(a), str(b)).warnings == ()  # the same ids, different pairs: no leakage
    assert load_splits(str(a), str(a), allow_overlap=True).warnings == ()


def test_kfold_folds_are_disjoint_and_cover_the_data():
    labels = np.random.default_rng(0).uniform(0, 5, size=1003)
    k = 5
    vals = []
    for fold in range(k):
        tr, va = kfold_indices(labels, k, fold, seed=0)
        assert not set(tr) & set(va)
        assert len(tr) + len(va) == len(labels)
        vals.append(va)
    allv = np.concatenate(vals)
    assert sorted(allv.tolist()) == list(range(len(labels)))
    sizes = [len(v) for v in vals]
    assert max(sizes) - min(sizes) <= 1
    # stratified: every fold's label mean is close to the pool's
    assert all(abs(labels[v].mean() - labels.mean()) < 0.1 for v in vals)
    # the same seed gives the same folds
    np.testing.assert_array_equal(kfold_indices(labels, k, 2, seed=0)[1], vals[2])
