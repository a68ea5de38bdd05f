"""Load the top-K trials' saved dev/test predictions from an experiment directory, aligned by id.

Reads only what docs/experiment-format.md promises: `leaderboard.csv` (trial_id, val_pearson, checkpoint) and,
in each checkpoint directory, `dev_predictions.csv` (id,label,prediction) and `test_predictions.csv`
(id,prediction). No torch, no Ray: the selector runs anywhere the files are.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ensemble.verify import interrupted_note, problem, read_data_ids
from trainables.metrics import METRIC, rank

LEADERBOARD = "leaderboard.csv"
DEV_FILE = "dev_predictions.csv"
TEST_FILE = "test_predictions.csv"
_LABEL_TOLERANCE = 1e-6


class ExperimentError(ValueError):
    """The experiment directory does not hold what docs/experiment-format.md promises."""


@dataclass(frozen=True)
class MemberInfo:
    trial_id: str
    checkpoint: Path
    val_pearson: float  # as the leaderboard reports it
    experiment: Path | None = None  # the experiment directory it came from
    label: str = ""  # the experiment's short name when several are pooled (ensemble/pool.py), else ""

    def __post_init__(self) -> None:
        if not self.trial_id:
            raise ExperimentError("a member needs a non-empty trial_id")

    @property
    def name(self) -> str:
        """The candidate's name, unique in its library: `label/trial_id` when experiments are pooled."""
        return f"{self.label}/{self.trial_id}" if self.label else self.trial_id


@dataclass(frozen=True)
class Library:
    """K members' predictions on the same dev (and test) rows, in the first member's row order."""

    members: list[MemberInfo]
    dev_ids: np.ndarray  # [n] str
    labels: np.ndarray  # [n]
    dev_preds: np.ndarray  # [K, n]
    test_ids: np.ndarray | None = None  # [m] str, test-file order
    test_preds: np.ndarray | None = None  # [K, m]
    test_labels: np.ndarray | None = None  # [m] when the test set is labelled: reported, never used to select

    def __post_init__(self) -> None:
        k, n = len(self.members), len(self.dev_ids)
        if self.labels.shape != (n,) or self.dev_preds.shape != (k, n):
            raise ExperimentError(
                f"library shapes disagree: {k} members, {n} dev ids, labels {self.labels.shape}, "
                f"dev predictions {self.dev_preds.shape}"
            )
        if (self.test_ids is None) != (self.test_preds is None):
            raise ExperimentError("test ids and test predictions must be given together")
        if self.test_ids is not None and self.test_preds is not None:
            if self.test_preds.shape != (k, len(self.test_ids)):
                raise ExperimentError(
                    f"test predictions have shape {self.test_preds.shape}, expected {(k, len(self.test_ids))}"
                )

    @property
    def size(self) -> int:
        return len(self.members)

    @property
    def has_test(self) -> bool:
        return self.test_preds is not None


@dataclass(frozen=True)
class LoadedExperiment:
    library: Library
    skipped: list[str] = field(default_factory=list)  # trial ids without a checkpoint
    available: int = 0  # trials with a checkpoint (>= library.size)
    rejected: list[str] = field(default_factory=list)  # errored trials, and trials whose predictions are damaged


def _read_csv(path: Path, trial_id: str, columns: tuple[str, ...]) -> pd.DataFrame:
    if not path.is_file():
        raise ExperimentError(f"trial {trial_id}: missing {path.name} in its checkpoint {path.parent}")
    try:
        # keep_default_na=False: ids such as "NA" stay strings; numeric columns are parsed below.
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ExperimentError(f"trial {trial_id}: cannot parse {path}: {exc}") from exc
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ExperimentError(
            f"trial {trial_id}: {path} lacks column(s) {', '.join(missing)} (has {', '.join(frame.columns)})"
        )
    if frame.empty:
        raise ExperimentError(f"trial {trial_id}: {path} has no rows")
    duplicated = frame["id"][frame["id"].duplicated()]
    if not duplicated.empty:
        raise ExperimentError(f"trial {trial_id}: {path} repeats id {duplicated.iloc[0]!r}")
    for column in columns[1:]:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = ~np.isfinite(values.to_numpy(dtype=np.float64))
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise ExperimentError(
                f"trial {trial_id}: {path} column {column!r} has a missing or non-numeric value "
                f"{frame[column].iloc[first]!r} at id {frame['id'].iloc[first]!r}"
            )
        frame[column] = values.astype(np.float64)
    return frame


def _align(
    frame: pd.DataFrame, ref_ids: np.ndarray, trial_id: str, path: Path, ref_trial: str
) -> pd.DataFrame:
    ids = frame["id"].to_numpy()
    if len(ids) == len(ref_ids) and np.array_equal(ids, ref_ids):
        return frame
    missing = sorted(set(ref_ids) - set(ids))
    extra = sorted(set(ids) - set(ref_ids))
    if missing or extra:
        raise ExperimentError(
            f"trial {trial_id}: ids in {path} differ from trial {ref_trial}'s "
            f"({len(missing)} missing, e.g. {missing[:3]}; {len(extra)} extra, e.g. {extra[:3]}); "
            "were these trials run on different data? Drop the trial or rerun it on the same files"
        )
    return frame.set_index("id").loc[ref_ids].reset_index()


def read_leaderboard(
    experiment: Path, required: tuple[str, ...] = ("trial_id", METRIC, "checkpoint"), *, infer_types: bool = False
) -> pd.DataFrame:
    """The leaderboard ranked best first (trainables.metrics.rank: NaN last), the one reader of leaderboard.csv.

    By default every cell is text (ids such as "NA" stay ids) and `checkpoint` is stripped to a path or '';
    `infer_types=True` lets pandas type the other columns (the report plots the config/* knobs).
    """
    path = experiment / LEADERBOARD
    if not path.is_file():
        raise ExperimentError(
            f"{path} not found: is {experiment} an experiment directory written by tune/search.py "
            "(docs/experiment-format.md)?"
        )
    try:
        if infer_types:
            # Ray's trial ids are hex ("1e5a3b00" would otherwise become a float): always text.
            board = pd.read_csv(path, dtype={"trial_id": str})
        else:
            board = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ExperimentError(f"{path}: not a readable CSV ({exc})") from exc
    missing = [c for c in required if c not in board.columns]
    if missing:
        raise ExperimentError(f"{path} lacks column(s) {', '.join(missing)} (docs/experiment-format.md)")
    repeated = board["trial_id"][board["trial_id"].duplicated()]
    if not repeated.empty:
        raise ExperimentError(f"{path} lists trial {repeated.iloc[0]} more than once")
    board[METRIC] = pd.to_numeric(board[METRIC], errors="coerce")
    if "checkpoint" in board.columns and not infer_types:
        board["checkpoint"] = board["checkpoint"].str.strip()
    return rank(board)


def _warn(line: str) -> None:
    print(f"warning: {line}", file=sys.stderr)


def load_experiment(
    experiment: str | Path, top_k: int = 20, *, strict: bool = False, warn: Callable[[str], None] = _warn
) -> LoadedExperiment:
    """The top-K trials (by leaderboard val_pearson) with a checkpoint, their predictions aligned by id.

    Errored trials are never candidates. Each candidate's prediction files are checked against what its
    checkpoint recorded and data.json's ids (ensemble/verify.py): a damaged one is named and its trial skipped
    (`strict`: an ExperimentError instead)."""
    if top_k < 1:
        raise ExperimentError(f"--top-k must be >= 1, got {top_k}")
    experiment = Path(experiment).expanduser().resolve()
    board = read_leaderboard(experiment)
    if note := interrupted_note(experiment):
        warn(note)
    has_checkpoint = board["checkpoint"] != ""
    skipped = board.loc[~has_checkpoint, "trial_id"].tolist()
    errored = board["status"].eq("ERROR") if "status" in board.columns else pd.Series(False, index=board.index)
    rejected = board.loc[has_checkpoint & errored, "trial_id"].tolist()
    if rejected:
        warn(f"{len(rejected)} errored trial(s) are not candidates: {', '.join(rejected)}")
    data_ids = read_data_ids(experiment)
    chosen_ids: list[str] = []
    for row in board[has_checkpoint & ~errored].itertuples(index=False):
        if len(chosen_ids) == top_k:
            break
        ckpt = Path(str(row.checkpoint)).expanduser()
        ckpt = ckpt if ckpt.is_absolute() else experiment / ckpt
        bad = problem(ckpt, {"dev": DEV_FILE, "test": TEST_FILE}, data_ids) if ckpt.is_dir() else None
        if bad is None:
            chosen_ids.append(str(row.trial_id))
        elif strict:
            raise ExperimentError(f"trial {row.trial_id}: {bad} (--strict)")
        else:
            warn(f"trial {row.trial_id} skipped: {bad}")
            rejected.append(str(row.trial_id))
    chosen = board[board["trial_id"].isin(chosen_ids)]
    if chosen.empty and rejected:
        raise ExperimentError(
            f"no usable trial in {experiment}: {len(rejected)} errored or with damaged predictions "
            f"({', '.join(rejected[:5])}), {len(skipped)} without a checkpoint; rerun or resume the search"
        )
    if chosen.empty:
        raise ExperimentError(
            f"no trial in {experiment / LEADERBOARD} has a checkpoint (all {len(board)} rows are empty): "
            "did every trial fail before its first validation?"
        )

    members: list[MemberInfo] = []
    dev_rows: list[np.ndarray] = []
    test_rows: dict[str, np.ndarray] = {}
    ref: pd.DataFrame | None = None
    test_ref: pd.DataFrame | None = None
    test_ref_trial = ""
    for row in chosen.itertuples(index=False):
        trial_id = str(row.trial_id)
        checkpoint = Path(str(row.checkpoint)).expanduser()
        if not checkpoint.is_absolute():  # tolerate relative paths: resolve against the experiment
            checkpoint = experiment / checkpoint
        if not checkpoint.is_dir():
            raise ExperimentError(
                f"trial {trial_id}: checkpoint directory {checkpoint} (from {LEADERBOARD}) does not exist; "
                "if the experiment was moved, fix the checkpoint column"
            )
        dev_path = checkpoint / DEV_FILE
        dev = _read_csv(dev_path, trial_id, ("id", "label", "prediction"))
        if ref is None:
            ref = dev
        else:
            dev = _align(dev, ref["id"].to_numpy(), trial_id, dev_path, members[0].trial_id)
            differs = np.abs(dev["label"].to_numpy() - ref["label"].to_numpy()) > _LABEL_TOLERANCE
            if differs.any():
                at = int(np.flatnonzero(differs)[0])
                raise ExperimentError(
                    f"trial {trial_id}: label of id {ref['id'].iloc[at]!r} in {dev_path} is "
                    f"{dev['label'].iloc[at]} but {ref['label'].iloc[at]} for trial {members[0].trial_id}"
                )
        dev_rows.append(dev["prediction"].to_numpy(dtype=np.float64))

        test_path = checkpoint / TEST_FILE
        if test_path.is_file():
            labelled = "label" in pd.read_csv(test_path, nrows=0).columns
            test = _read_csv(test_path, trial_id, ("id", "label", "prediction") if labelled else ("id", "prediction"))
            if test_ref is None:
                test_ref = test
                test_ref_trial = trial_id
            else:
                test = _align(test, test_ref["id"].to_numpy(), trial_id, test_path, test_ref_trial)
                if ("label" in test) != ("label" in test_ref) or (
                    "label" in test and np.any(np.abs(test["label"].to_numpy() - test_ref["label"].to_numpy())
                                               > _LABEL_TOLERANCE)
                ):
                    raise ExperimentError(
                        f"trial {trial_id}: test labels in {test_path} differ from trial {test_ref_trial}'s: "
                        "were these trials run on different test files?"
                    )
            test_rows[trial_id] = test["prediction"].to_numpy(dtype=np.float64)
        members.append(MemberInfo(trial_id, checkpoint, float(row.val_pearson), experiment))

    if test_rows and len(test_rows) != len(members):
        lacking = [m.trial_id for m in members if m.trial_id not in test_rows]
        raise ExperimentError(
            f"trial(s) {', '.join(lacking)} have no {TEST_FILE} while {len(test_rows)} other member(s) do: "
            "a submission needs every member's test predictions; lower --top-k or re-predict those trials"
        )
    if ref is None:  # unreachable: `chosen` is non-empty, but keeps the type checker and reader honest
        raise ExperimentError(f"no member loaded from {experiment}")
    library = Library(
        members=members,
        dev_ids=ref["id"].to_numpy(dtype=str),
        labels=ref["label"].to_numpy(dtype=np.float64),
        dev_preds=np.vstack(dev_rows),
        test_ids=None if test_ref is None else test_ref["id"].to_numpy(dtype=str),
        test_preds=None if not test_rows else np.vstack([test_rows[m.trial_id] for m in members]),
        test_labels=None if test_ref is None or "label" not in test_ref else test_ref["label"].to_numpy(np.float64),
    )
    return LoadedExperiment(library=library, skipped=skipped, available=int(has_checkpoint.sum()), rejected=rejected)


def without_constant_members(library: Library) -> tuple[Library, list[str]]:
    """The library less members whose dev predictions do not vary (Pearson undefined), and their trial ids.

    Constant dev labels leave every Pearson undefined: an error, as is a library with no varying member.
    """
    if np.ptp(library.labels) <= _LABEL_TOLERANCE:
        raise ExperimentError(
            f"every dev label of the experiment is {library.labels[0]:g}: Pearson is undefined, so no member or "
            "ensemble can be ranked; rerun the search with a dev set whose labels vary"
        )
    flat = np.ptp(library.dev_preds, axis=1) <= 1e-9
    if not flat.any():
        return library, []
    if flat.all():
        raise ExperimentError(
            f"all {library.size} candidate(s) predict one constant value on dev (Pearson undefined): nothing to "
            "ensemble; check the trials' training (learning rate, loss)"
        )
    keep = np.flatnonzero(~flat)
    kept = Library(
        members=[library.members[i] for i in keep], dev_ids=library.dev_ids, labels=library.labels,
        dev_preds=library.dev_preds[keep], test_ids=library.test_ids,
        test_preds=None if library.test_preds is None else library.test_preds[keep], test_labels=library.test_labels,
    )
    return kept, [library.members[i].name for i in np.flatnonzero(flat)]
