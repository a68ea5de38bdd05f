"""Download the backbone(s) and tokenizer(s) a search space names into the Hugging Face cache of this machine.

    python -m tune.prefetch --space roberta_large

Run once per node before its first trial (cluster.yaml's setup_commands): trials then start with
HF_HUB_OFFLINE=1 and never hit the hub concurrently. Local directories (e.g. assets/tiny-bert) are left
alone. The files are fetched with the same transformers loaders the trials use, so exactly what a trial
will ask for lands in the cache.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from trainables.config import ConfigError
from trainables.space import SpaceError, load_space

OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


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


def fetch(item: Item) -> None:
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    if item.kind == "tokenizer":
        AutoTokenizer.from_pretrained(item.name)
    elif item.kind == "config":
        AutoConfig.from_pretrained(item.name)
    else:
        # instantiating the model is the surest way to fetch every weight file (sharded or not) it needs
        AutoModel.from_pretrained(item.name)


def offline() -> bool:
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on") for v in OFFLINE_VARS)


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
        if is_local(item.name):
            print(f"[prefetch] {item.kind:9s} {item.name}: local directory, nothing to download", flush=True)
            continue
        if item.name.startswith(("/", "./", "../", "~")):
            print(f"error: {item.kind} {item.name}: no such local directory", file=sys.stderr)
            return 1
        t0 = time.perf_counter()
        try:
            fetch(item)
        except (OSError, ValueError) as e:
            why = (f"it is not in the Hugging Face cache ({os.environ.get('HF_HOME') or '~/.cache/huggingface'}) "
                   f"and {'/'.join(v for v in OFFLINE_VARS if os.environ.get(v))}=1 forbids downloading it: unset "
                   "that variable for this command") if offline() else f"{type(e).__name__}: {e}"
            print(f"error: could not fetch {item.kind} {item.name!r} for space {args.space!r}: {why}",
                  file=sys.stderr)
            return 1
        print(f"[prefetch] {item.kind:9s} {item.name}: cached in {time.perf_counter() - t0:.1f}s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
