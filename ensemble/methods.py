"""Member-selection methods on cached predictions.

Every method reduces to a pure function `(preds[K, n], labels[n], rng) -> weights[K]` (see `make_method`), so
the honest estimate runs the very same code on dev halves that picks the final ensemble on the full dev set.

Methods are registered in `METHODS` (name -> builder of that pure function, with its knobs read from the
selection settings) with a `simplicity` rank: exact held-out ties go to the simpler method. A method may also
register `detailed`, its run on the full dev set that returns a `Picked` with its selection curve for the
report (`random_search`, `greedy_selection`). Adding a method is one `@METHODS.register(...)`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ensemble.metrics import GramStats, member_pearsons, nan_to_worst
from ensemble.stacking import stacking
from trainables.registry import Registry

Method = Callable[[np.ndarray, np.ndarray, np.random.Generator], np.ndarray]

METHODS = Registry("method", "ensemble.methods", required_meta=("simplicity",))


@dataclass(frozen=True)
class Picked:
    """A method's choice on the full dev set; `curve` (JSON-ready) is drawn by the report."""

    weights: np.ndarray
    curve: dict[str, object] | None = None
    seconds: float = 0.0


def _check(preds: np.ndarray, labels: np.ndarray) -> None:
    if preds.ndim != 2 or labels.ndim != 1 or preds.shape[1] != labels.shape[0]:
        raise ValueError(f"preds must be [K, n] and labels [n]; got {preds.shape} and {labels.shape}")
    if preds.shape[0] < 1:
        raise ValueError("no members to select from")


@dataclass(frozen=True)
class RandomSearchResult:
    weights: np.ndarray
    score: float
    # (trial number, best dev Pearson so far), one point per improvement: the full best-so-far curve is a step
    # function, so its jumps describe it exactly at a fraction of the size of 100000 points.
    curve: list[tuple[int, float]] = field(default_factory=list)
    trials: int = 0
    seconds: float = 0.0


def random_search(
    preds: np.ndarray,
    labels: np.ndarray,
    rng: np.random.Generator,
    *,
    trials: int = 1000,
    chunk_rows: int = 50_000,
) -> RandomSearchResult:
    """Best of `trials` random equal-weight subsets (sizes 2..K, without replacement), scored all at once."""
    _check(preds, labels)
    if trials < 1:
        raise ValueError(f"--trials must be >= 1, got {trials}")
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    start = time.perf_counter()
    k = preds.shape[0]
    stats = GramStats.from_arrays(preds, labels)
    if k == 1:
        score = float(stats.score(np.ones((1, 1)))[0])
        return RandomSearchResult(np.ones(1), score, [(1, score)], trials, time.perf_counter() - start)

    all_scores = np.empty(trials)
    best_row: np.ndarray | None = None
    best_score = -np.inf
    done = 0
    while done < trials:
        rows = min(chunk_rows, trials - done)
        sizes = rng.integers(2, k + 1, size=rows)
        keys = rng.random((rows, k))
        # A row's `size` smallest keys are its members: one sort per chunk, no Python loop per subset.
        threshold = np.sort(keys, axis=1)[np.arange(rows), sizes - 1]
        membership = (keys <= threshold[:, None]).astype(np.float64)
        scores = nan_to_worst(stats.score(membership))
        all_scores[done : done + rows] = scores
        i = int(np.argmax(scores))
        if scores[i] > best_score:
            best_score = float(scores[i])
            best_row = membership[i].copy()
        done += rows

    if best_row is None:  # every subset constant: fall back to the plain mean
        best_row = np.ones(k)
        best_score = float("nan")
    running = np.maximum.accumulate(all_scores)
    jumps = np.flatnonzero(np.r_[True, running[1:] > running[:-1]])
    curve = [(int(j) + 1, float(running[j])) for j in jumps if np.isfinite(running[j])]
    seconds = time.perf_counter() - start
    return RandomSearchResult(best_row / best_row.sum(), best_score, curve, trials, seconds)


@dataclass(frozen=True)
class GreedyStep:
    step: int  # ensemble size after this step (1-based)
    member: int  # index into the library
    score: float  # dev Pearson of the ensemble after this step


@dataclass(frozen=True)
class GreedyResult:
    weights: np.ndarray
    score: float
    init_size: int
    best_step: int  # ensemble size whose counts became the weights
    curve: list[GreedyStep]
    seconds: float = 0.0


def _greedy_path(stats: GramStats, order: np.ndarray, size: int, init: int) -> list[GreedyStep]:
    k = stats.size
    counts = np.zeros(k)
    path: list[GreedyStep] = []
    for step in range(1, size + 1):
        if step <= init:
            j = int(order[step - 1])
        else:
            # Candidate w = counts + e_j for every j at once: O(K) each, from the running numerator/variance.
            gc = stats.gram @ counts
            num = counts @ stats.b + stats.b
            var = counts @ gc + 2.0 * gc + np.diag(stats.gram)
            with np.errstate(divide="ignore", invalid="ignore"):
                cand = num / (np.sqrt(np.maximum(var, 0.0)) * stats.y_norm)
            cand[~(var > 0.0)] = np.nan
            j = int(np.argmax(nan_to_worst(cand)))  # ties go to the better-ranked (lower index) member
        counts[j] += 1.0
        score = float(stats.score(counts[None, :])[0])
        path.append(GreedyStep(step=step, member=j, score=score))
    return path


def greedy_selection(
    preds: np.ndarray,
    labels: np.ndarray,
    rng: np.random.Generator | None = None,
    *,
    size: int = 25,
    init_sizes: Sequence[int] = (1, 2, 3),
) -> GreedyResult:
    """Caruana et al. (2004) forward selection with replacement and sorted initialisation.

    For each initial size n the top-n members seed the ensemble, then `size - n` members are added one at a
    time (repeats allowed, hence integer weights). The returned ensemble is the best prefix of the best path
    (Caruana keeps the best nested ensemble rather than the last); ties prefer the smaller ensemble.
    `rng` is unused (deterministic) but kept so every method has the same signature.
    """
    _check(preds, labels)
    if size < 1:
        raise ValueError(f"--ensemble-size must be >= 1, got {size}")
    if not init_sizes or min(init_sizes) < 1:
        raise ValueError(f"greedy init sizes must be >= 1, got {list(init_sizes)}")
    start = time.perf_counter()
    stats = GramStats.from_arrays(preds, labels)
    individual = nan_to_worst(stats.score(np.eye(stats.size)))
    order = np.argsort(-individual, kind="stable")

    runs = []
    for init in sorted({min(n, stats.size, size) for n in init_sizes}):
        path = _greedy_path(stats, order, size, init)
        scores = nan_to_worst(np.array([s.score for s in path]))
        i = int(np.argmax(scores))
        runs.append((float(scores[i]), init, i + 1, path))
    # max() keeps the first of equal scores, i.e. the smallest initial size.
    score, init, best_step, path = max(runs, key=lambda run: run[0])
    counts = np.bincount([s.member for s in path[:best_step]], minlength=stats.size).astype(np.float64)
    return GreedyResult(
        weights=counts / counts.sum(),
        score=score if np.isfinite(score) else float("nan"),
        init_size=init,
        best_step=best_step,
        curve=path,
        seconds=time.perf_counter() - start,
    )


def weighted_vote(
    preds: np.ndarray, labels: np.ndarray, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Weights proportional to each member's Pearson; members at or below 0 get none."""
    _check(preds, labels)
    r = np.nan_to_num(member_pearsons(preds, labels), nan=0.0)
    w = np.clip(r, 0.0, None)
    if w.sum() <= 0.0:  # no member correlates positively: nothing to prefer, fall back to the mean
        return mean_vote(preds, labels, rng)
    return w / w.sum()


def mean_vote(preds: np.ndarray, labels: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """All members, equal weights."""
    _check(preds, labels)
    k = preds.shape[0]
    return np.full(k, 1.0 / k)


def single_best(preds: np.ndarray, labels: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """The one member with the best Pearson on these labels (the baseline every ensemble must beat)."""
    _check(preds, labels)
    w = np.zeros(preds.shape[0])
    w[int(np.argmax(nan_to_worst(member_pearsons(preds, labels))))] = 1.0
    return w


# --- the registry: builders (knobs from the selection settings) -> pure methods --------------------------
def _random_detailed(
    preds: np.ndarray, labels: np.ndarray, rng: np.random.Generator, trial_ids: Sequence[str], *, trials: int
) -> Picked:
    result = random_search(preds, labels, rng, trials=trials)
    points = [{"trial": t, "dev_pearson": s} for t, s in result.curve]
    curve = {"kind": "best_so_far_by_trial", "trials": result.trials, "points": points}
    return Picked(result.weights, curve, result.seconds)


def _greedy_detailed(
    preds: np.ndarray, labels: np.ndarray, rng: np.random.Generator, trial_ids: Sequence[str], *, ensemble_size: int
) -> Picked:
    greedy = greedy_selection(preds, labels, rng, size=ensemble_size)
    curve = {
        "kind": "greedy_steps",
        "init_size": greedy.init_size,
        "best_step": greedy.best_step,
        "steps": [
            {"step": s.step, "trial_id": trial_ids[s.member], "dev_pearson": s.score} for s in greedy.curve
        ],
    }
    return Picked(greedy.weights, curve, greedy.seconds)


def _at_least_one(flag: str, value: int) -> None:
    if value < 1:
        raise ValueError(f"{flag} must be >= 1, got {value}")


@METHODS.register("random", knobs=("trials",), simplicity=4, detailed=_random_detailed)
def _random(*, trials: int = 1000) -> Method:
    _at_least_one("--trials", trials)
    return lambda preds, labels, rng: random_search(preds, labels, rng, trials=trials).weights


@METHODS.register("greedy", knobs=("ensemble_size",), simplicity=3, detailed=_greedy_detailed)
def _greedy(*, ensemble_size: int = 25) -> Method:
    _at_least_one("--ensemble-size", ensemble_size)
    return lambda preds, labels, rng: greedy_selection(preds, labels, rng, size=ensemble_size).weights


def _stacking_detailed(
    preds: np.ndarray, labels: np.ndarray, rng: np.random.Generator, trial_ids: Sequence[str]
) -> Picked:
    start = time.perf_counter()
    result = stacking(preds, labels, rng)
    curve = {"kind": "stacking_cv", "folds": result.folds, "alpha": result.alpha,
             "points": [{"alpha": a, "cv_pearson": r} for a, r in result.cv_pearson.items()]}
    return Picked(result.weights, curve, time.perf_counter() - start)


@METHODS.register("stacking", simplicity=5, detailed=_stacking_detailed)
def _stacking() -> Method:
    """Non-negative ridge weights, strength by cross-validation on the rows given (ensemble/stacking.py)."""
    return lambda preds, labels, rng: stacking(preds, labels, rng).weights


@METHODS.register("weighted", simplicity=2)
def _weighted() -> Method:
    return weighted_vote


@METHODS.register("mean", simplicity=1)
def _mean() -> Method:
    return mean_vote


@METHODS.register("single", simplicity=0)
def _single() -> Method:
    return single_best


def make_method(name: str, *, trials: int = 1000, ensemble_size: int = 25) -> Method:
    """The pure selection function registered as `name`, with these knobs where it takes them."""
    return METHODS.build(name, {"trials": trials, "ensemble_size": ensemble_size})


def pick_full(
    name: str, preds: np.ndarray, labels: np.ndarray, rng: np.random.Generator, trial_ids: Sequence[str],
    *, trials: int = 1000, ensemble_size: int = 25,
) -> Picked:
    """Run method `name` on the full dev set: its detailed form (with a curve) when it registered one."""
    entry = METHODS.get(name)
    knobs = entry.knob_values({"trials": trials, "ensemble_size": ensemble_size})
    detailed = entry.meta.get("detailed")
    if detailed is not None:
        return detailed(preds, labels, rng, trial_ids, **knobs)
    return Picked(entry.build(**knobs)(preds, labels, rng))
