"""Pool the top trials of several experiments into one library of candidates (`--experiment A --experiment B`).

Each experiment is loaded as on its own (ensemble/experiment.load_experiment: its top-K trials with a
checkpoint); the libraries are then stacked after checking that every experiment predicted the same dev rows
with the same labels (and the same test rows, labelled alike), in the first experiment's row order. A member
is named `EXPERIMENT/trial_id` when several are pooled, so names stay unique across experiments; with one
experiment the names stay the bare trial ids.
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ensemble.experiment import LEADERBOARD, ExperimentError, Library, LoadedExperiment, load_experiment

_LABEL_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Pooled:
    library: Library
    experiments: list[Path]  # resolved, in the order given
    labels: list[str]  # one per experiment: its short name in member names ("" when there is one experiment)
    skipped: list[str] = field(default_factory=list)  # member names without a checkpoint
    available: dict[str, int] = field(default_factory=dict)  # experiment label -> trials with a checkpoint

    def __post_init__(self) -> None:
        if len(self.experiments) != len(self.labels) or not self.experiments:
            raise ExperimentError(f"{len(self.experiments)} experiment(s) but {len(self.labels)} label(s)")


def expand_experiments(patterns: Sequence[str | Path]) -> list[Path]:
    """The experiment directories named by `--experiment` values: paths, or globs (quoted, so the shell leaves
    them) whose matches holding a leaderboard.csv count. Repeats are dropped; order is kept."""
    if not patterns:
        raise ExperimentError("pass at least one --experiment directory")
    out: list[Path] = []
    for pattern in patterns:
        text = str(pattern)
        if glob.has_magic(text):
            matches = [Path(m) for m in sorted(glob.glob(str(Path(text).expanduser())))]
            found = [m for m in matches if (m / LEADERBOARD).is_file()]
            if not found:
                raise ExperimentError(
                    f"--experiment {text!r} matches no experiment directory (none of its {len(matches)} "
                    f"match(es) holds a {LEADERBOARD})"
                )
            out.extend(found)
        else:
            out.append(Path(text).expanduser())
    unique: dict[Path, Path] = {}
    for path in out:
        unique.setdefault(path.resolve(), path.resolve())
    return list(unique)


def short_labels(experiments: Sequence[Path]) -> list[str]:
    """A short, unique name per experiment: its folder name, with parent folders added until they differ."""
    if len(experiments) == 1:
        return [""]
    for depth in range(1, max(len(p.parts) for p in experiments) + 1):
        names = ["/".join(p.parts[-depth:]) for p in experiments]
        if len(set(names)) == len(names):
            return names
    return [str(p) for p in experiments]  # unreachable for distinct resolved paths


def _reorder(ids: np.ndarray, ref_ids: np.ndarray, what: str, label: str, ref_label: str) -> np.ndarray:
    """Positions in `ids` of each of `ref_ids`; an error naming the experiment when the id sets differ."""
    if len(ids) == len(ref_ids) and np.array_equal(ids, ref_ids):
        return np.arange(len(ids))
    missing = sorted(set(ref_ids.tolist()) - set(ids.tolist()))
    extra = sorted(set(ids.tolist()) - set(ref_ids.tolist()))
    if missing or extra:
        raise ExperimentError(
            f"experiment {label}: its {what} ids differ from experiment {ref_label}'s ({len(missing)} missing, "
            f"e.g. {missing[:3]}; {len(extra)} extra, e.g. {extra[:3]}): pool only searches run on the same "
            f"{what} file (and without K-fold)"
        )
    position = {v: i for i, v in enumerate(ids.tolist())}
    return np.array([position[v] for v in ref_ids.tolist()])


def _check_labels(labels: np.ndarray, ref: np.ndarray, ids: np.ndarray, what: str, label: str, ref_label: str
                  ) -> None:
    differs = np.abs(labels - ref) > _LABEL_TOLERANCE
    if differs.any():
        at = int(np.flatnonzero(differs)[0])
        raise ExperimentError(
            f"experiment {label}: {what} label of id {str(ids[at])!r} is {labels[at]:g} but {ref[at]:g} in experiment "
            f"{ref_label}: pool only searches run on the same {what} file"
        )


def _conform(lib: Library, ref: Library, label: str, ref_label: str) -> Library:
    """`lib` in `ref`'s row order, after checking its dev/test ids and labels agree with `ref`'s."""
    dev = _reorder(lib.dev_ids, ref.dev_ids, "dev", label, ref_label)
    _check_labels(lib.labels[dev], ref.labels, ref.dev_ids, "dev", label, ref_label)
    if lib.has_test != ref.has_test:
        having, lacking = (label, ref_label) if lib.has_test else (ref_label, label)
        raise ExperimentError(
            f"experiment {having} has test predictions but experiment {lacking} has none: a submission needs "
            "every member's test predictions; configure the same test file in both searches, or pool them apart"
        )
    test_ids, test_preds, test_labels = ref.test_ids, None, ref.test_labels
    if lib.test_ids is not None and ref.test_ids is not None and lib.test_preds is not None:
        test = _reorder(lib.test_ids, ref.test_ids, "test", label, ref_label)
        test_preds = lib.test_preds[:, test]
        if (lib.test_labels is None) != (ref.test_labels is None):
            raise ExperimentError(
                f"experiment {label}: its test file is {'un' if lib.test_labels is None else ''}labelled but "
                f"experiment {ref_label}'s is {'un' if ref.test_labels is None else ''}labelled: were they run on "
                "different test files?"
            )
        if lib.test_labels is not None and ref.test_labels is not None:
            _check_labels(lib.test_labels[test], ref.test_labels, ref.test_ids, "test", label, ref_label)
    return Library(lib.members, ref.dev_ids, ref.labels, lib.dev_preds[:, dev], test_ids, test_preds, test_labels)


def load_pool(experiments: Sequence[str | Path], top_k: int = 20, *, strict: bool = False) -> Pooled:
    """The top-K trials of each experiment as one library (members named `label/trial_id` when pooled)."""
    paths = expand_experiments(experiments)
    labels = short_labels(paths)
    loaded: list[LoadedExperiment] = []
    for path, label in zip(paths, labels, strict=True):
        try:
            loaded.append(load_experiment(path, top_k, strict=strict))
        except ExperimentError as exc:
            if len(paths) == 1:
                raise
            raise ExperimentError(f"experiment {label}: {exc}") from exc
    ref = loaded[0].library
    parts = [_conform(one.library, ref, label, labels[0]) for one, label in zip(loaded, labels, strict=True)]
    members = [replace(m, label=label) for part, label in zip(parts, labels, strict=True) for m in part.members]
    has_test = ref.has_test
    library = Library(
        members=members,
        dev_ids=ref.dev_ids,
        labels=ref.labels,
        dev_preds=np.vstack([p.dev_preds for p in parts]),
        test_ids=ref.test_ids,
        test_preds=np.vstack([p.test_preds for p in parts if p.test_preds is not None]) if has_test else None,
        test_labels=ref.test_labels,
    )
    skipped = [f"{label}/{t}" if label else t for one, label in zip(loaded, labels, strict=True) for t in one.skipped]
    available = {label or str(path): one.available for one, label, path in zip(loaded, labels, paths, strict=True)}
    return Pooled(library, paths, labels, skipped, available)
