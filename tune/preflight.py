"""Checks a search makes before Ray starts: every backbone and tokenizer of the plan can be loaded here.

A dry run only asks where each would come from (local directory, Hugging Face cache, hub, offline build) and
fails in one line when one is missing; a real run also downloads or builds what is needed, then pins the
trials to what was resolved (e.g. the offline build's directory), so no trial ever waits on the hub.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from trainables.backbones import BackboneUnavailable, Kind, acquire_backbone, plan_backbone

if TYPE_CHECKING:
    from tune.search import Plan


def _needs(p: Plan) -> list[tuple[str, str, Kind]]:
    """(config key, name, kind) for every backbone/tokenizer the plan's trials load, deduplicated."""
    out: list[tuple[str, str, Kind]] = []
    for cfg in p.variants:
        items: list[tuple[str, str, Kind]] = [("backbone", cfg.backbone, "config" if cfg.random_init else "model")]
        if cfg.tokenizer:
            items.append(("tokenizer", cfg.tokenizer, "tokenizer"))
        out.extend(i for i in items if i not in out)
    return out


def check_backbones(p: Plan, *, acquire: bool, progress=print) -> Plan:
    """Dry run (`acquire=False`): say where each model comes from, raise BackboneUnavailable if one is
    missing. Real run: also download/build, and return a plan whose trials load the resolved locations."""
    try:
        return _check(p, acquire=acquire, progress=progress)
    except BackboneUnavailable as e:
        raise BackboneUnavailable(str(e).replace("--space SPACE", f"--space {p.space.name}")) from None


def _check(p: Plan, *, acquire: bool, progress) -> Plan:
    pinned: dict[str, str] = {}
    for key, name, kind in _needs(p):
        if not acquire:
            res = plan_backbone(name, kind=kind)
            if res.source == "missing":
                raise BackboneUnavailable(res.detail)
            progress(f"{key:<11} {name}: {res.detail}")
            continue
        res = acquire_backbone(name, kind=kind, progress=progress)
        if res.source in ("built", "build") or (res.source == "local" and res.location != name):
            progress(f"{key:<11} {name}: {res.detail}")
        if res.location != name:
            if key in p.space.search and key not in p.pins:
                raise BackboneUnavailable(
                    f"{key} {name!r} resolves to {res.location}, but {key} is searched in {p.space.path}: pin it "
                    f"with --set {key}={res.location} or list that directory in the space"
                )
            pinned[key] = res.location
    if not pinned:
        return p
    fixed = {**p.fixed, **pinned}
    return replace(p, fixed=fixed, variants=p.space.backbone_variants({**fixed, **p.pins}))
