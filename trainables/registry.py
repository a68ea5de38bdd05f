"""Named building blocks, registered where they are implemented: name -> builder, and the knobs it reads.

A loss, head, optimizer, schedule, data format, preprocessing step or augmentation is one decorated function
or class in its own module; that registration is the only list of names there is. `TrialConfig` validates
against these registries, and argparse choices, error messages and docs read them too, so adding one is a
one-file change. This module imports nothing heavy: config.py (imported by almost everything) uses it, and a
registry imports its home module (torch and all) only when its names are first asked for.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Entry:
    name: str
    build: Callable[..., Any]
    knobs: tuple[str, ...] = ()  # keyword arguments of `build`, read by name from a config or settings object
    meta: Mapping[str, Any] = field(default_factory=dict)  # what else a caller needs (width, version, rank)

    def knob_values(self, source: Any) -> dict[str, Any]:
        if isinstance(source, Mapping):
            return {k: source[k] for k in self.knobs if k in source}
        return {k: getattr(source, k) for k in self.knobs}


class Registry:
    """name -> Entry for one kind of building block, filled by `@REGISTRY.register(name, knobs=..., **meta)`."""

    def __init__(self, kind: str, home: str, *, required_meta: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.home = home  # the module whose import registers the built-in entries
        self.required_meta = required_meta
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, *, knobs: tuple[str, ...] = (), **meta: Any) -> Callable[[T], T]:
        missing = [k for k in self.required_meta if k not in meta]
        if missing:
            raise TypeError(f"{self.kind} {name!r}: register() needs {', '.join(missing)}")

        def add(build: T) -> T:
            old = self._entries.get(name)
            if old is not None and _origin(old.build) != _origin(build):
                raise ValueError(f"{self.kind} {name!r} is registered twice ({_origin(old.build)}, {_origin(build)})")
            self._entries[name] = Entry(name, build, tuple(knobs), dict(meta))  # type: ignore[arg-type]
            return build

        return add

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)

    def _load(self) -> None:
        importlib.import_module(self.home)

    def names(self) -> tuple[str, ...]:
        self._load()
        return tuple(self._entries)

    def entries(self) -> tuple[Entry, ...]:
        self._load()
        return tuple(self._entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self.names()

    def get(self, name: str) -> Entry:
        self._load()
        if name not in self._entries:
            raise ValueError(f"{self.kind}={name!r}: allowed values are {', '.join(self._entries)}")
        return self._entries[name]

    def build(self, name: str, source: Any, *args: Any, **kwargs: Any) -> Any:
        """`build(*args, **kwargs)` of entry `name`, plus its knobs read from `source` (object or mapping)."""
        entry = self.get(name)
        return entry.build(*args, **kwargs, **entry.knob_values(source))


def _origin(obj: Any) -> str:
    # the same function seen again (a module imported under a second name) is not a clash
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


# One registry per kind; each names the module that fills it.
LOSSES = Registry("loss", "trainables.losses")
HEADS = Registry("head", "trainables.heads")
OPTIMIZERS = Registry("optimizer", "trainables.optim")
SCHEDULES = Registry("schedule", "trainables.optim")
DATA_FORMATS = Registry("data_format", "trainables.data")
PREPROCESS_STEPS = Registry("preprocess", "trainables.textsteps")
AUGMENTATIONS = Registry("augmentation", "trainables.augment")
