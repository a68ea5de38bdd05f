"""tune/report.py on synthetic experiment directories written per docs/experiment-format.md."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ensemble_synth import make_experiment

from ensemble import select_cli
from trainables.metrics import pearson
from tune import report
from tune.reporting.plots import classify_knob
from tune.results import TEST_NOTE

REPO = Path(__file__).resolve().parents[1]
BASE_SECTIONS = ("summary", "leaderboard", "learning-curves", "rungs", "hyperparameters", "parallel-coordinates",
                 "compute")
MAX_EPOCHS = 3
EARLY = "trial_004"  # the worst member: the scheduler stopped it after one epoch
ERRORED = "trial_err"
# a src/href/url() that would fetch something: the page must open offline
REMOTE = re.compile(r"""(?:\b(?:src|href)\s*=\s*["']?\s*|url\(\s*["']?\s*)(?:https?:)?//""", re.I)


BASELINES = {  # summary.json's no-training reference scores, all below the synthetic trials
    "assets/tiny-bert": {"char_bigram_overlap": {"dev": 0.3125, "test": 0.2875},
                         "zero_shot_cosine": {"dev": 0.5125, "test": 0.4875}},
}


def make_search(root: Path, *, ensemble: bool = False, history: bool = True, scored: bool = True) -> Path:
    """A finished tiny search: 5 trials with checkpoints (one stopped early) and one that errored.

    scored: a labelled test set (test_pearson in leaderboard, history, summary and ensemble.json) and the
    reference baselines in summary.json; False: an experiment written before those existed.
    """
    errored = {"trial_id": ERRORED, "val_pearson": math.nan, "best_epoch": math.nan, "epochs_run": 0.0,
               "status": "ERROR", "seconds": 2.0, "checkpoint": "", "config/lr": 3e-3}
    synth = make_experiment(root, members=5, n_dev=120, n_test=80 if scored else None, labelled_test=scored,
                            noise=[0.6, 0.8, 1.0, 1.3, 1.8], extra_rows=[errored])
    board = pd.read_csv(root / "leaderboard.csv", dtype={"trial_id": str})
    n = len(board)
    if scored:
        assert synth.test_preds is not None and synth.test_labels is not None
        test = {t: pearson(p, synth.test_labels) for t, p in zip(synth.trial_ids, synth.test_preds, strict=True)}
        board.insert(3, "test_pearson", board["trial_id"].map(test))  # NaN for the errored trial
    rng = np.random.default_rng(1)
    board["epochs_run"] = np.where(board["trial_id"].eq(ERRORED), 0.0, float(MAX_EPOCHS))
    board.loc[board["trial_id"].eq(EARLY), ["epochs_run", "best_epoch", "seconds"]] = [1.0, 1.0, 4.0]
    board["stopped_early"] = board["epochs_run"] < MAX_EPOCHS
    board["config/lr"] = [2e-4, 5e-4, 1e-3, 3e-4, 2e-3, 3e-3][:n]
    board["config/batch_size"] = [16, 32, 16, 32, 16, 32][:n]
    board["config/optimizer"] = ["adamw", "adam", "radam", "adamw", "adam", "adamw"][:n]
    board["config/hidden_dropout"] = rng.uniform(0.0, 0.2, n)
    board["config/max_epochs"] = MAX_EPOCHS  # constant knobs: left out of plots and leaderboard
    board["config/backbone"] = "assets/tiny-bert"
    board.to_csv(root / "leaderboard.csv", index=False)

    rows = []
    for _, r in board.iterrows():
        for epoch in range(1, int(r["epochs_run"]) + 1):
            rows.append({"trial_id": r["trial_id"], "training_iteration": epoch, "epoch": float(epoch),
                         "val_pearson": r["val_pearson"] - 0.1 * (r["epochs_run"] - epoch), "val_loss": 1.0,
                         "train_loss": 1.0, "lr": r["config/lr"], "time_total_s": 3.0 * epoch,
                         **({"test_pearson": r["test_pearson"] - 0.1 * (r["epochs_run"] - epoch)} if scored else {})})
    if history:
        pd.DataFrame(rows).to_csv(root / "history.csv", index=False)
    best = board.iloc[0]
    summary = {
        "experiment": str(root), "space": "tiny", "metric": "val_pearson", "mode": "max", "num_trials": n,
        "best_trial_id": best["trial_id"], "best_val_pearson": float(best["val_pearson"]),
        "best_config": {c.removeprefix("config/"): best[c] for c in board.columns if c.startswith("config/")},
        "best_checkpoint": best["checkpoint"], "wall_seconds": 125.0,
        "trials_by_status": board["status"].value_counts().to_dict(), "trials_stopped_early": 2,
        "total_epochs": float(board["epochs_run"].sum()), "search_alg": "optuna", "scheduler": "asha",
        "num_samples": n,
    }
    if scored:
        summary |= {"best_test_pearson": float(best["test_pearson"]), "test_note": TEST_NOTE, "baselines": BASELINES}
    (root / "summary.json").write_text(json.dumps(summary, default=lambda v: v.item()))
    if ensemble:
        argv = ["--experiment", str(root), "--holdout-repeats", "5", "--trials", "50", "--ensemble-size", "5"]
        assert select_cli.main(argv) == 0
    return root


def build(exp: Path, *extra: str, out: Path | None = None) -> tuple[int, Path]:
    out = out or exp / "report.html"
    code = report.main(["--experiment", str(exp), "--output", str(out), *extra])
    return code, out


def section_ids(page: str) -> set[str]:
    return set(re.findall(r'<section id="([^"]+)"', page))


def assert_offline(page: str) -> None:
    assert not REMOTE.search(page), REMOTE.search(page)
    assert "<script" not in page and "<link" not in page and "@import" not in page


def test_report_without_ensemble(tmp_path: Path) -> None:
    code, out = build(make_search(tmp_path / "exp"))
    assert code == 0
    page = out.read_text(encoding="utf-8")
    assert section_ids(page) == set(BASE_SECTIONS)
    assert 'id="ensemble"' not in page
    assert page.count("<svg") >= 5  # curves, rungs, effects, parallel coordinates, compute
    assert_offline(page)
    assert "stopped early</span>" in page and "error</span>" in page
    board = page[page.index('id="leaderboard"') : page.index('id="learning-curves"')].replace("<wbr>", "")
    assert "hidden_dropout" in board and "optimizer" in board
    assert "<th>max_epochs</th>" not in board and "<th>backbone</th>" not in board  # constant knobs
    assert f"1 trial(s) never reported a validation: {ERRORED}" in page
    # no leftovers of the atomic write
    assert sorted(p.name for p in out.parent.glob(".report.html*")) == []


def test_report_with_ensemble(tmp_path: Path) -> None:
    exp = make_search(tmp_path / "exp", ensemble=True)
    chosen = json.loads((exp / "ensemble" / "ensemble.json").read_text())["method"]
    code, out = build(exp)
    assert code == 0
    page = out.read_text(encoding="utf-8")
    assert section_ids(page) == {*BASE_SECTIONS, "ensemble"}
    part = page[page.index('<section id="ensemble"') :]
    assert part.count("<svg") == 2  # selection curves, per-bucket Pearson
    assert f"<b>{chosen}</b>" in part
    for text in ("Held-out estimate per method", "Selection curves", "Per label bucket", "Members", "greedy"):
        assert text in part
    assert_offline(page)


def test_explicit_ensemble_path(tmp_path: Path) -> None:
    exp = make_search(tmp_path / "exp", ensemble=True)
    moved = tmp_path / "elsewhere.json"
    (exp / "ensemble" / "ensemble.json").rename(moved)
    code, out = build(exp)
    assert code == 0 and "ensemble" not in section_ids(out.read_text())
    code, out = build(exp, "--ensemble", str(moved), out=tmp_path / "with.html")
    assert code == 0 and "ensemble" in section_ids(out.read_text())
    assert "was selected from" not in out.read_text()
    other = make_search(tmp_path / "other")
    code, out = build(other, "--ensemble", str(moved))
    assert code == 0 and f"was selected from {exp.resolve()}, not from this experiment" in out.read_text()


def test_missing_explicit_ensemble_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exp = make_search(tmp_path / "exp")
    code, out = build(exp, "--ensemble", str(tmp_path / "nope.json"))
    assert code == 2 and not out.exists()
    assert "nope.json not found" in capsys.readouterr().err


def test_missing_leaderboard_leaves_no_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exp = tmp_path / "exp"
    exp.mkdir()
    code, _ = build(exp)
    assert code == 2
    assert "leaderboard.csv not found" in capsys.readouterr().err
    assert list(exp.iterdir()) == []  # neither the report nor a temporary file


def test_failure_keeps_the_previous_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exp = make_search(tmp_path / "exp")
    out = tmp_path / "report.html"
    out.write_text("previous")
    board = pd.read_csv(exp / "leaderboard.csv").drop(columns=["epochs_run"])
    board.to_csv(exp / "leaderboard.csv", index=False)
    code, _ = build(exp, out=out)
    assert code == 2
    assert "leaderboard.csv lacks column(s) epochs_run" in capsys.readouterr().err
    assert out.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_history_falls_back_to_progress_csv(tmp_path: Path) -> None:
    exp = make_search(tmp_path / "exp", history=False)
    # Ray's per-trial progress.csv: the columns of history.csv and more, one file per trial folder
    (exp / "trial_000" / "progress.csv").write_text(
        "val_pearson,epoch,training_iteration,trial_id,time_total_s\n0.5,1.0,1,trial_000,3\n0.7,2.0,2,trial_000,6\n"
    )
    (exp / "trial_001" / "progress.csv").write_text("")  # a trial that never reported
    code, out = build(exp)
    assert code == 0
    page = out.read_text()
    lc = page[page.index('id="learning-curves"') : page.index('id="rungs"')]
    assert "<svg" in lc and "progress.csv of 1 trial folder(s)" in lc


def test_no_history_anywhere_says_so(tmp_path: Path) -> None:
    code, out = build(make_search(tmp_path / "exp", history=False))
    assert code == 0
    page = out.read_text()
    assert "learning-curves" in section_ids(page)
    lc = page[page.index('id="learning-curves"') : page.index('id="rungs"')]
    assert "<svg" not in lc and "No learning curves" in lc


def test_single_trial_without_varying_knobs(tmp_path: Path) -> None:
    exp = make_search(tmp_path / "exp")
    board = pd.read_csv(exp / "leaderboard.csv", dtype={"trial_id": str}).head(1)
    board.to_csv(exp / "leaderboard.csv", index=False)
    (exp / "summary.json").unlink()  # derived from the leaderboard instead
    history = pd.read_csv(exp / "history.csv", dtype={"trial_id": str})
    history[history["trial_id"].eq(board["trial_id"][0])].to_csv(exp / "history.csv", index=False)
    code, out = build(exp)
    assert code == 0
    page = out.read_text()
    assert section_ids(page) == set(BASE_SECTIONS)
    assert "No knob varies between trials" in page
    assert "no summary.json" in page


def test_all_trials_errored(tmp_path: Path) -> None:
    exp = make_search(tmp_path / "exp")
    board = pd.read_csv(exp / "leaderboard.csv", dtype={"trial_id": str})
    board["val_pearson"] = math.nan
    board["status"] = "ERROR"
    board.to_csv(exp / "leaderboard.csv", index=False)
    (exp / "history.csv").write_text("trial_id,training_iteration,epoch,val_pearson\n")
    code, out = build(exp)
    assert code == 0
    page = out.read_text()
    assert section_ids(page) == set(BASE_SECTIONS)
    assert "no trial reported a finite val_pearson" in page


def test_bad_history_names_file_and_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exp = make_search(tmp_path / "exp")
    pd.read_csv(exp / "history.csv").drop(columns=["val_pearson"]).to_csv(exp / "history.csv", index=False)
    code, out = build(exp)
    assert code == 2 and not out.exists()
    assert "history.csv lacks column(s) val_pearson" in capsys.readouterr().err


def test_report_is_reproducible(tmp_path: Path) -> None:
    exp = make_search(tmp_path / "exp")
    _, a = build(exp, out=tmp_path / "a.html")
    _, b = build(exp, out=tmp_path / "b.html")
    assert a.read_bytes() == b.read_bytes()


def test_knob_classification() -> None:
    assert classify_knob("lr", pd.Series([2e-4, 3e-4, 2.5e-3])).log  # lr-like: log even over a short span
    assert classify_knob("weight_decay", pd.Series([1e-4, 5e-3, 1e-1])).log
    assert not classify_knob("hidden_dropout", pd.Series([0.0, 0.1, 0.2])).log
    # uniform on [0, 0.2] that drew one value near 0: a wide ratio, but not a log-uniform spread
    assert not classify_knob("warmup_ratio", pd.Series([0.011, 0.02, 0.04, 0.07, 0.09, 0.12, 0.17, 0.19])).log
    assert classify_knob("scale", pd.Series([1e-4, 1e-3, 1e-2, 1e-1])).log
    batch = classify_knob("batch_size", pd.Series([16, 32, 16]))
    assert not batch.numeric and batch.categories == ("16", "32")
    assert classify_knob("head", pd.Series(["cls", "mean"])).categories == ("cls", "mean")


def test_script_runs_from_any_directory(tmp_path: Path) -> None:
    exp = make_search(tmp_path / "exp")
    done = subprocess.run([sys.executable, str(REPO / "tune" / "report.py"), "--experiment", "exp"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (exp / "report.html").is_file()


# --- scores never used for selection: test_pearson and the no-training reference scores ---------------------
NOT_USED = "not used for selection"


def part(page: str, sid: str) -> str:
    start = page.index(f'<section id="{sid}"')
    return page[start : page.index("</section>", start)].replace("<wbr>", "")


def test_summary_and_leaderboard_show_test_and_baselines(tmp_path: Path) -> None:
    exp = make_search(tmp_path / "exp")
    board = pd.read_csv(exp / "leaderboard.csv", dtype={"trial_id": str})
    summary = json.loads((exp / "summary.json").read_text())
    code, out = build(exp)
    assert code == 0
    page = out.read_text(encoding="utf-8")
    head = part(page, "summary")
    best_val, best_test = summary["best_val_pearson"], summary["best_test_pearson"]
    cards = head[head.index('<div class="scores">') :]
    assert f"{best_val:.4f}" in cards and f"{best_test:.4f}" in cards and NOT_USED in cards
    assert cards.index(f"{best_val:.4f}") < cards.index(f"{best_test:.4f}")  # side by side, val first
    refs = head[head.index("Reference scores (no training)") :]
    for backbone, named in BASELINES.items():
        assert backbone in refs
        for name, scores in named.items():
            assert name in refs
            assert f"{scores['dev']:.4f}" in refs and f"{scores['test']:.4f}" in refs
            assert f"{best_val - scores['dev']:+.4f} above" in refs
            assert f"{best_test - scores['test']:+.4f} above" in refs
    assert NOT_USED in refs and 'class="warn"' not in page and "BELOW" not in page

    lb = part(page, "leaderboard")
    headers = re.findall(r"<th[^>]*>(.*?)</th>", lb)
    assert [h.split("<br>")[0] for h in headers[2:4]] == ["val_pearson", "test_pearson"]
    assert f'title="{NOT_USED}"' in lb and escape(TEST_NOTE) in lb
    for r in board.head(3).itertuples():
        assert f"<td class=\"num\">{r.test_pearson:.4f}</td>" in lb


def test_below_a_baseline_is_a_warning(tmp_path: Path) -> None:
    exp = make_search(tmp_path / "exp")
    summary = json.loads((exp / "summary.json").read_text())
    summary["baselines"]["assets/tiny-bert"]["zero_shot_cosine"] = {"dev": 0.999, "test": 0.998}
    (exp / "summary.json").write_text(json.dumps(summary))
    code, out = build(exp)
    assert code == 0
    head = part(out.read_text(encoding="utf-8"), "summary")
    warn = re.search(r'<p class="warn">(.*?)</p>', head)
    assert warn and "does not beat a reference score" in warn.group(1)
    assert "zero_shot_cosine" in warn.group(1) and "char_bigram_overlap" not in warn.group(1)
    assert head.index('class="warn"') < head.index("<dl>")  # at the top of the page, not buried
    dev_gap = summary["best_val_pearson"] - 0.999
    assert f'<td class="below">{dev_gap:+.4f} BELOW</td>' in head
    assert f"{summary['best_val_pearson'] - 0.3125:+.4f} above" in head  # the other reference is still beaten


def test_ensemble_shows_test_per_method(tmp_path: Path) -> None:
    exp = make_search(tmp_path / "exp", ensemble=True)
    ens = json.loads((exp / "ensemble" / "ensemble.json").read_text())
    assert ens["test_pearson"] is not None  # the synthetic test set is labelled
    code, out = build(exp)
    assert code == 0
    part_e = part(out.read_text(encoding="utf-8"), "ensemble")
    facts = part_e[: part_e.index("</dl>")]
    assert f"<b>{ens['test_pearson']:.4f}</b>" in facts and NOT_USED in facts
    held = part_e[part_e.index("Held-out estimate per method and test Pearson") :]
    held = held[: held.index("</table>")]
    assert f'title="{NOT_USED}"' in held
    for name, r in ens["test_pearson_by_method"].items():
        assert f"{r:.4f}</td></tr>" in held, name  # the last column of each row
    assert f"best single by dev ({ens['best_single']['trial_id']})" in held
    assert escape(ens["test_note"]) in part_e
    assert "test_pearson against the reference scores" in part_e and "BELOW" not in part_e
    members = part_e[part_e.index("<h3>Members</h3>") :]
    assert "test_pearson" in members


def test_all_nan_test_column_is_hidden(tmp_path: Path) -> None:
    exp = make_search(tmp_path / "exp")  # an unlabelled test set: the column is there, empty
    board = pd.read_csv(exp / "leaderboard.csv", dtype={"trial_id": str})
    board["test_pearson"] = math.nan
    board.to_csv(exp / "leaderboard.csv", index=False)
    summary = json.loads((exp / "summary.json").read_text())
    summary["best_test_pearson"] = None
    summary["baselines"] = {"assets/tiny-bert": {"char_bigram_overlap": {"dev": 0.3125}}}
    (exp / "summary.json").write_text(json.dumps(summary))
    code, out = build(exp)
    assert code == 0
    page = out.read_text(encoding="utf-8")
    assert "test_pearson" not in part(page, "leaderboard")
    head = part(page, "summary")
    assert '<div class="scores">' not in head and "test_pearson" not in head
    refs = head[head.index("Reference scores (no training)") :]
    assert "0.3125" in refs and "(test)" not in refs and NOT_USED not in refs


def test_old_experiment_without_the_new_keys(tmp_path: Path) -> None:
    exp = make_search(tmp_path / "exp", ensemble=True, scored=False)
    summary = json.loads((exp / "summary.json").read_text())
    assert not {"best_test_pearson", "baselines", "test_note"} & set(summary)
    path = exp / "ensemble" / "ensemble.json"
    ens = json.loads(path.read_text())
    for key in ("test_pearson", "test_pearson_by_method", "test_note"):  # written before they existed
        ens.pop(key)
    path.write_text(json.dumps(ens))
    assert "test_pearson" not in pd.read_csv(exp / "leaderboard.csv").columns
    code, out = build(exp)
    assert code == 0
    page = out.read_text(encoding="utf-8")
    assert section_ids(page) == {*BASE_SECTIONS, "ensemble"}
    for absent in (NOT_USED, "test_pearson", "Reference scores", 'class="warn"', '<div class="scores">'):
        assert absent not in page, absent
    assert "Held-out estimate per method</h3>" in page
