"""Turn a parsed search space into Ray Tune's param_space, search algorithm and scheduler."""

from __future__ import annotations

from typing import Any

from ray import tune
from ray.tune.schedulers import (
    ASHAScheduler,
    FIFOScheduler,
    HyperBandForBOHB,
    HyperBandScheduler,
    MedianStoppingRule,
    PopulationBasedTraining,
)
from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter

from trainables.config import ConfigError
from trainables.space import Distribution, SearchSpace, resolve_paths
from tune.preflight import check_schedule

SEARCH_ALGS = ("random", "grid", "optuna", "bohb")
SCHEDULERS = ("asha", "hyperband", "median", "pbt", "fifo")
TIME_ATTR = "epoch"  # reported as epochs completed, so grace periods and rungs read in epochs


def to_ray(dist: Distribution, search_alg: str) -> Any:
    kind, args = dist.kind, dist.args
    if kind == "uniform":
        return tune.uniform(*args)
    if kind == "loguniform":
        return tune.loguniform(*args)
    if kind == "randint":
        return tune.randint(int(args[0]), int(args[1]))
    # model-based searchers cannot take grid_search entries; for them a grid is a categorical choice
    if kind == "grid" or (kind == "choice" and search_alg == "grid"):
        return tune.grid_search(list(args)) if search_alg in ("random", "grid") else tune.choice(list(args))
    return tune.choice(list(args))


def param_space(space: SearchSpace, search_alg: str, fixed: dict[str, Any], pins: dict[str, Any]) -> dict[str, Any]:
    """Fixed values, searched knobs, then the driver's own fixed values and `--set` pins (which win)."""
    out: dict[str, Any] = resolve_paths(dict(space.fixed))
    for key, dist in space.search.items():
        out[key] = to_ray(dist, search_alg)
    out.update(resolve_paths(fixed))
    out.update(resolve_paths(pins))
    return out


def default_point(space: SearchSpace, pins: dict[str, Any] | None = None) -> dict[str, Any]:
    """The space's defaults of its searched knobs (pinned ones excluded): the first trial of a search."""
    return {k: d.default for k, d in space.search.items() if k not in (pins or {})}


def make_search_alg(
    name: str, seed: int, max_concurrent: int, space: SearchSpace, pins: dict[str, Any] | None = None,
    *, default_first: bool = True,
):
    if name not in SEARCH_ALGS:
        raise ConfigError(f"--search-alg {name!r}: allowed values are {', '.join(SEARCH_ALGS)}")
    # The space's default point runs first: a known-good config is the yardstick early stopping measures every
    # later trial against (with one trial at a time, ASHA always promotes the first trial at every rung).
    first = [default_point(space, pins)] if default_first and name != "grid" and default_point(space, pins) else None
    if name in ("random", "grid"):
        return BasicVariantGenerator(random_state=seed, max_concurrent=max_concurrent or 0, points_to_evaluate=first)
    if name == "optuna":
        from ray.tune.search.optuna import OptunaSearch

        alg = OptunaSearch(seed=seed, points_to_evaluate=first)
    else:
        from ray.tune.search.bohb import TuneBOHB

        alg = TuneBOHB(seed=seed, points_to_evaluate=first)
    return ConcurrencyLimiter(alg, max_concurrent=max_concurrent) if max_concurrent else alg


def make_scheduler(
    name: str, *, search_alg: str, max_epochs: int, grace_period: float, reduction_factor: float,
    space: SearchSpace, seed: int,
):
    if name not in SCHEDULERS:
        raise ConfigError(f"--scheduler {name!r}: allowed values are {', '.join(SCHEDULERS)}")
    check_schedule(name, search_alg, max_epochs=max_epochs, grace_period=grace_period,
                   reduction_factor=reduction_factor, num_samples=1)
    if name == "asha":
        return ASHAScheduler(
            time_attr=TIME_ATTR, max_t=max_epochs, grace_period=grace_period, reduction_factor=reduction_factor
        )
    if name == "hyperband":
        cls = HyperBandForBOHB if search_alg == "bohb" else HyperBandScheduler
        return cls(time_attr=TIME_ATTR, max_t=max_epochs, reduction_factor=reduction_factor)
    if name == "median":
        return MedianStoppingRule(time_attr=TIME_ATTR, grace_period=grace_period, min_samples_required=3)
    if name == "pbt":
        mutations = {
            k: to_ray(d, "random") for k, d in space.search.items() if d.kind in ("uniform", "loguniform")
        }
        if not mutations:
            raise ConfigError(
                f"--scheduler pbt: space {space.name} has no continuous knob (uniform/loguniform) to mutate"
            )
        return PopulationBasedTraining(
            time_attr=TIME_ATTR, perturbation_interval=max(1, grace_period), hyperparam_mutations=mutations,
            quantile_fraction=0.5, synch=False,
        )
    return FIFOScheduler()
