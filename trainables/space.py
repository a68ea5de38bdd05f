"""Search-space files (search_spaces/NAME.yaml), parsed and validated without Ray.

A space file has: `description`, `fixed` (config values), `search` (knob -> one distribution + `default`),
and `scheduler` (max_epochs, grace_period, reduction_factor, num_samples). Every key is checked against
TrialConfig before anything starts, and every searched knob carries a default so `trainables/train.py`
can train the space's default point without Ray.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from trainables.config import ConfigError, TrialConfig, check_keys
from trainables.paths import SEARCH_SPACES, resolve_local_path

DISTRIBUTIONS = ("uniform", "loguniform", "choice", "randint", "grid")
SPACE_KEYS = ("description", "fixed", "search", "scheduler")
SCHEDULER_KEYS = ("max_epochs", "grace_period", "reduction_factor", "num_samples", "cpus_per_trial")
PATH_KNOBS = ("backbone", "tokenizer", "train_path", "dev_path", "test_path", "speller_cache",
              "synonyms_path", "paraphrases_path", "cache_dir")


class SpaceError(ConfigError):
    """A problem in a search-space file; the message names the file and key."""


@dataclass(frozen=True)
class Distribution:
    kind: str
    args: tuple[Any, ...]
    default: Any

    def values(self) -> list[Any]:
        """Finite candidate values (choice/grid), or the range end points (for validation)."""
        if self.kind in ("choice", "grid"):
            return list(self.args)
        if self.kind == "randint":
            return [self.args[0], self.args[1] - 1]
        return list(self.args)


@dataclass
class SearchSpace:
    name: str
    path: Path
    description: str
    fixed: dict[str, Any]
    search: dict[str, Distribution]
    scheduler: dict[str, Any] = field(default_factory=dict)

    def default_point(self) -> dict[str, Any]:
        return {**self.fixed, **{k: d.default for k, d in self.search.items()}}

    def default_config(self, overrides: dict[str, Any] | None = None) -> TrialConfig:
        values = {**self.default_point(), **(overrides or {})}
        return TrialConfig.from_dict(resolve_paths(values), source=f"{self.path}")

    def backbone_variants(self, overrides: dict[str, Any] | None = None) -> list[TrialConfig]:
        """One config per distinct (backbone, tokenizer, max_length, preprocessing, folds, head kind, prefix,
        swapped views) the space can sample: the combinations the driver must tokenize before any trial starts."""
        knobs = ("backbone", "tokenizer", "max_length", "preprocess", "num_folds", "fold", "head", "text_prefix",
                 "tta")
        overrides = overrides or {}
        options: list[list[Any]] = []
        for k in knobs:
            if k in overrides:
                options.append([overrides[k]])
            elif k in self.search and self.search[k].kind in ("choice", "grid"):
                options.append(self.search[k].values())
            elif k in self.search:
                options.append([self.search[k].default])
            else:
                options.append([self.default_point().get(k, getattr(TrialConfig, k, None))])
        out, seen = [], set()
        for combo in itertools.product(*options):
            picked = {k: v for k, v in zip(knobs, combo, strict=True) if v is not None}
            cfg = self.default_config({**overrides, **picked})
            key = (cfg.backbone, cfg.tokenizer, cfg.max_length, tuple(cfg.preprocess), cfg.num_folds, cfg.fold,
                   cfg.separate_sentences, cfg.text_prefix, cfg.swap_views)
            if key not in seen:
                seen.add(key)
                out.append(cfg)
        return out


def list_spaces() -> list[str]:
    return sorted(p.stem for p in SEARCH_SPACES.glob("*.yaml"))


def space_path(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") and p.is_file():
        return p.resolve()
    candidate = SEARCH_SPACES / f"{name_or_path}.yaml"
    if candidate.is_file():
        return candidate
    raise SpaceError(
        f"unknown search space {name_or_path!r}: available spaces are {', '.join(list_spaces())} "
        f"(files in {SEARCH_SPACES}), or pass a path to a .yaml file"
    )


def resolve_paths(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    for k in PATH_KNOBS:
        if isinstance(out.get(k), str) and out[k]:
            out[k] = resolve_local_path(out[k])
    return out


def load_space(name_or_path: str) -> SearchSpace:
    path = space_path(name_or_path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise SpaceError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise SpaceError(f"{path}: expected a mapping with keys {', '.join(SPACE_KEYS)}")
    for key in raw:
        if key not in SPACE_KEYS:
            raise SpaceError(f"{path}: unknown top-level key {key!r}; allowed: {', '.join(SPACE_KEYS)}")
    fixed = raw.get("fixed") or {}
    search_raw = raw.get("search") or {}
    sched = raw.get("scheduler") or {}
    for section, value in (("fixed", fixed), ("search", search_raw), ("scheduler", sched)):
        if not isinstance(value, dict):
            raise SpaceError(f"{path}: `{section}` must be a mapping")
    _keys(path, "fixed", fixed)
    _keys(path, "search", search_raw)
    both = set(fixed) & set(search_raw)
    if both:
        raise SpaceError(f"{path}: {', '.join(sorted(both))} is both fixed and searched; keep it in one section")
    for key in sched:
        if key not in SCHEDULER_KEYS:
            raise SpaceError(f"{path}: scheduler.{key}: unknown key; allowed: {', '.join(SCHEDULER_KEYS)}")
    search = {k: _distribution(path, k, v) for k, v in search_raw.items()}
    space = SearchSpace(path.stem, path, str(raw.get("description", "")).strip(), fixed, search, dict(sched))
    _validate_values(space)
    return space


def _keys(path: Path, section: str, values: dict[str, Any]) -> None:
    try:
        check_keys(values.keys(), source=f"{path}: {section}")
    except ConfigError as e:
        raise SpaceError(str(e)) from None


def _distribution(path: Path, key: str, spec: Any) -> Distribution:
    where = f"{path}: search.{key}"
    if not isinstance(spec, dict):
        raise SpaceError(f"{where}: expected a mapping like {{loguniform: [1e-6, 5e-5], default: 2e-5}}")
    kinds = [k for k in spec if k != "default"]
    if len(kinds) != 1 or kinds[0] not in DISTRIBUTIONS:
        raise SpaceError(f"{where}: name exactly one distribution of {', '.join(DISTRIBUTIONS)} (found {kinds})")
    if "default" not in spec:
        raise SpaceError(f"{where}: every searched knob needs a `default` (trained by trainables/train.py)")
    kind = kinds[0]
    args = spec[kind]
    if not isinstance(args, list) or not args:
        raise SpaceError(f"{where}.{kind}: expected a non-empty list")
    # PyYAML reads `1e-5` (no dot) as a string: accept numeric strings wherever a number is meant
    if kind in ("uniform", "loguniform", "randint"):
        args = [_number(a) for a in args]
        spec = {**spec, "default": _number(spec["default"])}
    if kind in ("uniform", "loguniform", "randint"):
        if len(args) != 2 or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args):
            raise SpaceError(f"{where}.{kind}: expected [low, high] numbers")
        lo, hi = args
        if not lo < hi:
            raise SpaceError(f"{where}.{kind}: low {lo} must be < high {hi}")
        if kind == "loguniform" and lo <= 0:
            raise SpaceError(f"{where}.loguniform: low must be > 0")
        if kind == "randint" and not (float(lo).is_integer() and float(hi).is_integer()):
            raise SpaceError(f"{where}.randint: bounds must be integers (high is exclusive)")
        d = spec["default"]
        upper_ok = d < hi if kind == "randint" else d <= hi
        if not isinstance(d, (int, float)) or not (lo <= d and upper_ok) or (isinstance(d, float) and math.isnan(d)):
            raise SpaceError(f"{where}: default {d!r} lies outside [{lo}, {hi}]")
    elif spec["default"] not in args:
        raise SpaceError(f"{where}: default {spec['default']!r} is not one of {args}")
    return Distribution(kind, tuple(args), spec["default"])


def _number(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _validate_values(space: SearchSpace) -> None:
    """Build a config from the default point and from every candidate value: typos fail before Ray starts."""
    base = resolve_paths(space.default_point())
    try:
        TrialConfig.from_dict(base, source=str(space.path))
    except ConfigError as e:
        raise SpaceError(f"{space.path}: default point is invalid: {e}") from None
    for key, dist in space.search.items():
        for value in dist.values():
            try:
                TrialConfig.from_dict(resolve_paths({**base, key: value}), source=str(space.path))
            except ConfigError as e:
                raise SpaceError(f"{space.path}: search.{key}: value {value!r} is invalid: {e}") from None
