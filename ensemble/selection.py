"""Pick an ensemble from an experiment's saved predictions, estimate it honestly, write the submission.

The library behind `python ensemble/select.py` (CLI: ensemble/select_cli.py). Reads only leaderboard.csv and
the top-K trials' checkpoint prediction files (docs/experiment-format.md): no GPU, no torch. Writes
OUT/ensemble.json, OUT/dev_predictions.csv and, when the members carry test predictions, OUT/submission.csv
(id,target), all atomically.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ensemble.buckets import BucketRow, bucket_table, format_tables, table_dicts
from ensemble.experiment import Library, without_constant_members
from ensemble.honest import HeldOut, holdout_estimate, method_rng
from ensemble.known import record_ensemble
from ensemble.methods import METHODS, make_method, pick_full
from ensemble.metrics import member_pearsons, nan_to_worst
from ensemble.outputs import csv_text, dumps_json, write_files_atomically
from ensemble.pool import load_pool
from trainables.metrics import pearson

LABEL_RANGE = (0.0, 5.0)
SUBMISSION = "submission.csv"
ENSEMBLE_JSON = "ensemble.json"
DEV_PREDICTIONS = "dev_predictions.csv"
TEST_NOTE = ("test_pearson: the submission scored on the labelled test set after every choice was made; "
             "no method, member or weight was chosen by it")
HELD_OUT_NOTE = (
    "held_out: each repeat selects on a random half of dev and scores on the other half; optimism = "
    "selection-half score minus held-out score. The top-K trials were ranked (and early-stopped) on the full "
    "dev set by the search, which these numbers do not undo; with --method all, picking the winner by these "
    "same numbers adds a little optimism of its own."
)


@dataclass(frozen=True)
class Settings:
    experiments: tuple[Path, ...]  # one or more experiment directories, pooled (ensemble/pool.py)
    output: Path
    method: str = "all"
    top_k: int = 20
    trials: int = 1000
    ensemble_size: int = 25
    seed: int = 0
    decimals: int | None = None
    holdout_repeats: int = 50
    require_test: bool = False
    strict: bool = False  # a damaged prediction file fails the selection instead of skipping its trial

    def __post_init__(self) -> None:
        if not self.experiments:
            raise ValueError("pass at least one --experiment directory")
        if self.method != "all" and self.method not in METHODS:
            raise ValueError(
                f"--method must be one of {', '.join((*METHODS.names(), 'all'))}, got {self.method!r}"
            )
        for name, value, low in (
            ("--top-k", self.top_k, 1),
            ("--trials", self.trials, 1),
            ("--ensemble-size", self.ensemble_size, 1),
            ("--holdout-repeats", self.holdout_repeats, 0),
        ):
            if value < low:
                raise ValueError(f"{name} must be >= {low}, got {value}")
        if self.decimals is not None and self.decimals < 0:
            raise ValueError(f"--round must be >= 0 decimals, got {self.decimals}")
        if self.method == "all" and self.holdout_repeats < 1:
            raise ValueError(
                "--method all picks the winner by the honest estimate: --holdout-repeats must be >= 1"
            )

    @property
    def experiment(self) -> Path:
        """The first experiment: the reference of row order, and where the report is written."""
        return self.experiments[0]

    @property
    def methods(self) -> tuple[str, ...]:
        return METHODS.names() if self.method == "all" else (self.method,)


@dataclass(frozen=True)
class Selection:
    method: str
    weights: np.ndarray
    dev_pearson: float
    seconds: float
    curve: dict[str, object] | None = field(default=None)


def select_full(name: str, library: Library, settings: Settings) -> Selection:
    """Run one method on the full dev set, keeping its selection curve for the report."""
    preds, labels = library.dev_preds, library.labels
    trial_ids = [m.name for m in library.members]
    picked = pick_full(
        name, preds, labels, method_rng(settings.seed, name, 0), trial_ids,
        trials=settings.trials, ensemble_size=settings.ensemble_size,
    )
    return Selection(name, picked.weights, pearson(picked.weights @ preds, labels), picked.seconds, picked.curve)


def add_round_argument(parser: argparse.ArgumentParser, help: str) -> None:
    """`--round DECIMALS` (-> `decimals`), the rounding `postprocess` applies; select and predict both take it."""
    parser.add_argument("--round", type=int, default=None, dest="decimals", metavar="DECIMALS", help=help)


def postprocess(prediction: np.ndarray, decimals: int | None) -> np.ndarray:
    """What is submitted: clipped to the label range, optionally rounded like the official labels."""
    out = np.clip(prediction, *LABEL_RANGE)
    return np.round(out, decimals) if decimals is not None else out


def choose(selections: dict[str, Selection], held: dict[str, HeldOut], requested: str) -> str:
    """`--method all`: the simplest method whose held-out Pearson is within one standard error of the best's.

    Every method is scored on the same random halves, so the comparison is paired: a more complex method
    (weights, more members, stacking) must beat a simpler one by more than the noise of those halves, or the
    simpler one is chosen (the one-standard-error rule). Each method's simplicity rank is part of its
    registration (ensemble/methods.py).
    """
    if requested != "all":
        return requested
    ranked = sorted(selections, key=lambda n: METHODS.get(n).meta["simplicity"])
    best = max(ranked, key=lambda n: nan_to_worst(np.array([held[n].mean]))[0])
    top = np.asarray(held[best].held_out, dtype=np.float64)
    for name in ranked:  # simplest first
        if name == best:
            return best
        diff = top - np.asarray(held[name].held_out, dtype=np.float64)
        if diff.size < 2 or not np.isfinite(diff).all():
            continue
        if diff.mean() <= diff.std(ddof=1) / np.sqrt(diff.size):
            return name
    return best


def _print_summary(
    library: Library, selections: dict[str, Selection], held: dict[str, HeldOut], chosen: str
) -> None:
    print(
        f"\n{'method':<9} {'dev':>8} {'held-out':>9} {'sd':>7} {'sel-half':>9} {'optimism':>9} {'members':>8}"
    )
    for name in dict.fromkeys([*selections, *held]):
        dev = selections[name].dev_pearson if name in selections else float("nan")
        members = int((selections[name].weights > 0).sum()) if name in selections else 0
        h = held.get(name)
        cells = (
            f"{h.mean:>9.4f} {h.sd:>7.4f} {h.selection_mean:>9.4f} {h.optimism:>+9.4f}"
            if h
            else f"{'-':>9} {'-':>7} {'-':>9} {'-':>9}"
        )
        mark = "  <- chosen" if name == chosen else ""
        print(f"{name:<9} {dev:>8.4f} {cells} {members:>8}{mark}")
    weights = selections[chosen].weights
    print(f"\nensemble ({chosen}) members:")
    for i in np.argsort(-weights, kind="stable"):
        if weights[i] > 0:
            print(f"  {library.members[i].name:<30} weight {weights[i]:.4f}")


def test_scores(
    library: Library, selections: dict[str, Selection], best_single: int, decimals: int | None
) -> dict[str, float] | None:
    """Pearson on the labelled test set of each method's submitted predictions (and the best single model):
    reported only; no choice above looked at it."""
    if library.test_labels is None or library.test_preds is None:
        return None
    out = {name: pearson(postprocess(s.weights @ library.test_preds, decimals), library.test_labels)
           for name, s in selections.items()}
    out["best_single_by_dev"] = pearson(library.test_preds[best_single], library.test_labels)
    return out


def _print_test(scores: dict[str, float], chosen: str) -> None:
    print("\ntest Pearson (labelled test set; NOT used for any choice above):")
    for name, r in scores.items():
        print(f"  {name:<20} {r:.4f}{'  <- chosen' if name == chosen else ''}")


def build_report(
    settings: Settings,
    library: Library,
    skipped: list[str],
    selections: dict[str, Selection],
    held: dict[str, HeldOut],
    chosen: str,
    dev_final: np.ndarray,
    buckets: dict[str, list[BucketRow]],
    best_single: int,
    has_submission: bool,
    test: dict[str, float] | None = None,
) -> dict[str, object]:
    sel = selections[chosen]
    member_r = member_pearsons(library.dev_preds, library.labels)
    trial_ids = [m.name for m in library.members]
    return {
        "method": chosen,
        "method_requested": settings.method,
        "experiment": str(settings.experiment.resolve()),
        "experiments": [str(p.resolve()) for p in settings.experiments],
        "settings": {
            "top_k": settings.top_k,
            "trials": settings.trials,
            "ensemble_size": settings.ensemble_size,
            "seed": settings.seed,
            "holdout_repeats": settings.holdout_repeats,
            "round": settings.decimals,
            "clip": list(LABEL_RANGE),
        },
        "members": [
            {
                "name": m.name,
                "experiment": str(m.experiment),
                "trial_id": m.trial_id,
                "checkpoint": str(m.checkpoint),
                "weight": float(sel.weights[i]),
                "dev_pearson": float(member_r[i]),
            }
            for i, m in enumerate(library.members)
            if sel.weights[i] > 0
        ],
        "weights": {t: float(w) for t, w in zip(trial_ids, sel.weights, strict=True)},
        "dev_pearson": sel.dev_pearson,
        "dev_pearson_submitted": pearson(dev_final, library.labels),
        "test_pearson": None if test is None else test[chosen],
        "test_pearson_by_method": test,
        "test_note": None if test is None else TEST_NOTE,
        "best_single": {
            "name": trial_ids[best_single],
            "experiment": str(library.members[best_single].experiment),
            "trial_id": library.members[best_single].trial_id,
            "checkpoint": str(library.members[best_single].checkpoint),
            "dev_pearson": float(member_r[best_single]),
        },
        "held_out": {name: h.to_dict() for name, h in held.items()},
        "held_out_note": HELD_OUT_NOTE,
        "methods": {
            name: {
                "dev_pearson": s.dev_pearson,
                "seconds": s.seconds,
                "weights": {t: float(w) for t, w in zip(trial_ids, s.weights, strict=True) if w > 0},
            }
            for name, s in selections.items()
        },
        "curves": {name: s.curve for name, s in selections.items() if s.curve is not None},
        "buckets": {name: table_dicts(rows) for name, rows in buckets.items()},
        "candidates": [
            {
                "name": m.name,
                "experiment": str(m.experiment),
                "trial_id": m.trial_id,
                "checkpoint": str(m.checkpoint),
                "val_pearson_leaderboard": m.val_pearson,
                "dev_pearson": float(member_r[i]),
            }
            for i, m in enumerate(library.members)
        ],
        "skipped_trials": skipped,
        "n_dev": len(library.dev_ids),
        "n_test": None if library.test_ids is None else len(library.test_ids),
        "submission": SUBMISSION if has_submission else None,
    }


def run(settings: Settings) -> dict[str, object]:
    loaded = load_pool(settings.experiments, settings.top_k, strict=settings.strict)
    library, constant = without_constant_members(loaded.library)
    if constant:
        print(f"note: skipped {len(constant)} trial(s) whose dev predictions are constant (Pearson undefined): "
              f"{', '.join(constant)}")
    if loaded.skipped:
        print(f"skipped {len(loaded.skipped)} trial(s) without a checkpoint: {', '.join(loaded.skipped)}")
    for label, available in loaded.available.items():
        if available < settings.top_k:
            where = f" in {label}" if len(loaded.experiments) > 1 else ""
            print(f"only {available} trial(s){where} have a checkpoint; using them all (--top-k {settings.top_k})")
    if len(loaded.experiments) > 1:
        counts = {label: sum(m.label == label for m in library.members) for label in loaded.labels}
        print("pooled " + ", ".join(f"{n} from {label}" for label, n in counts.items()))
    print(
        f"loaded {library.size} member(s), {len(library.dev_ids)} dev rows, "
        f"{'no' if library.test_ids is None else len(library.test_ids)} test rows"
    )
    if not library.has_test and settings.require_test:
        raise ValueError(
            "--require-test: none of the members has test_predictions.csv; "
            "configure a test file in the search, or drop --require-test"
        )

    # The best single model is always run: it is the baseline every ensemble has to beat.
    names = list(dict.fromkeys([*settings.methods, "single"]))
    selections = {name: select_full(name, library, settings) for name in names}
    for name, s in selections.items():
        if name == "random":
            print(f"selection loop (random, {settings.trials} subsets of {library.size}): {s.seconds:.3f} s")
        elif name == "greedy":
            print(f"selection loop (greedy, {settings.ensemble_size} steps): {s.seconds:.3f} s")

    held: dict[str, HeldOut] = {}
    if settings.holdout_repeats > 0:
        methods = {
            n: make_method(n, trials=settings.trials, ensemble_size=settings.ensemble_size) for n in names
        }
        held = holdout_estimate(
            library.dev_preds, library.labels, methods, repeats=settings.holdout_repeats, seed=settings.seed
        )
    else:
        print("honest estimate skipped (--holdout-repeats 0): the dev Pearson below is optimistic")

    chosen = choose(selections, held, settings.method)
    weights = selections[chosen].weights
    _print_summary(library, selections, held, chosen)

    dev_final = postprocess(weights @ library.dev_preds, settings.decimals)
    best_single = int(np.argmax(nan_to_worst(member_pearsons(library.dev_preds, library.labels))))
    buckets = {
        f"best single ({library.members[best_single].name})": bucket_table(
            library.dev_preds[best_single], library.labels
        ),
        f"ensemble ({chosen})": bucket_table(dev_final, library.labels),
    }
    print("\nper-label-bucket on dev (ensemble: submitted form, clipped/rounded):")
    print(format_tables(buckets))
    test = test_scores(library, selections, best_single, settings.decimals)
    if test is not None:
        _print_test(test, chosen)

    files = {
        DEV_PREDICTIONS: csv_text(
            pd.DataFrame({"id": library.dev_ids, "label": library.labels, "prediction": dev_final})
        )
    }
    remove: list[str] = []
    if library.has_test and library.test_preds is not None:
        target = postprocess(weights @ library.test_preds, settings.decimals)
        files[SUBMISSION] = csv_text(pd.DataFrame({"id": library.test_ids, "target": target}))
    else:
        print("\nno test predictions in the members: no submission written")
        if (settings.output / SUBMISSION).exists():
            print(f"removing the stale {settings.output / SUBMISSION} of an earlier run")
            remove.append(SUBMISSION)
    bucket_json = {"best_single": buckets[next(iter(buckets))], "ensemble": buckets[f"ensemble ({chosen})"]}
    report = build_report(
        settings,
        library,
        [*loaded.skipped, *constant],
        selections,
        held,
        chosen,
        dev_final,
        bucket_json,
        best_single,
        SUBMISSION in files,
        test,
    )
    files[ENSEMBLE_JSON] = dumps_json(report)
    written = write_files_atomically(settings.output, files, remove)
    print("\nwrote " + ", ".join(str(p) for p in written))
    for experiment in settings.experiments:
        warning = record_ensemble(experiment, settings.output / ENSEMBLE_JSON)
        if warning:
            print(f"warning: {warning}")
    several = len(settings.experiments) > 1
    page = settings.output / "report.html" if several else settings.experiment / "report.html"
    print("next: python tune/report.py " + " ".join(f"--experiment {p}" for p in settings.experiments)
          + f" --ensemble {settings.output / ENSEMBLE_JSON} --output {page}")
    return report
