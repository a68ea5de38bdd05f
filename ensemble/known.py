"""Where an experiment's ensembles were written: `EXPERIMENT/ensembles.json`, so the report finds one anywhere.

`ensemble/select.py --output` may point outside the experiment folder; it records the ensemble.json it wrote
here (newest last) and `tune/report.py` takes the newest that still exists when not told which.
"""

from __future__ import annotations

import json
from pathlib import Path

from trainables.fileio import atomic_write_text

INDEX = "ensembles.json"


def known_ensembles(experiment: Path) -> list[Path]:
    """Recorded ensemble.json paths that still exist, newest last (an unreadable index counts as empty)."""
    try:
        data = json.loads((Path(experiment) / INDEX).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    paths = data.get("ensembles", []) if isinstance(data, dict) else []
    return [Path(p) for p in paths if isinstance(p, str) and Path(p).is_file()]


def record_ensemble(experiment: Path, ensemble_json: Path) -> str | None:
    """Add `ensemble_json` to the experiment's index; returns a warning instead of failing when it can't."""
    path = str(Path(ensemble_json).resolve())
    paths = [str(p) for p in known_ensembles(experiment) if str(p) != path] + [path]
    try:
        atomic_write_text(Path(experiment) / INDEX, json.dumps({"ensembles": paths}, indent=2))
    except OSError as exc:
        return f"could not record the ensemble in {Path(experiment) / INDEX} ({exc.strerror}): pass --ensemble " \
               f"{ensemble_json} to tune/report.py"
    return None
