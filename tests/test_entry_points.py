"""Every command runs by path and as a module; no module shadows the standard library; the house rules hold."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from trainables.paths import PROJECT_ROOT

PACKAGES = ("trainables", "tune", "ensemble")
COMMANDS = {  # by path (as documented) -> module
    "tune/search.py": "tune.search",
    "tune/report.py": "tune.report",
    "tune/prefetch.py": "tune.prefetch",
    "trainables/train.py": "trainables.train",
    "trainables/preprocess.py": "trainables.preprocess",
    "ensemble/select.py": "ensemble.select_cli",
    "ensemble/predict.py": "ensemble.predict",
}


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=180, check=False)


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_help_by_path_and_as_module(path: str, tmp_path: Path) -> None:
    by_path = _run([str(PROJECT_ROOT / path), "--help"], tmp_path)
    assert by_path.returncode == 0 and "usage:" in by_path.stdout, by_path.stderr
    as_module = _run(["-m", COMMANDS[path], "--help"], tmp_path)
    assert as_module.returncode == 0 and "usage:" in as_module.stdout, as_module.stderr


def test_ensemble_select_stands_in_for_the_standard_librarys_select(tmp_path: Path) -> None:
    # What `python ensemble/predict.py` does: ensemble/ heads the module search path, then pandas/asyncio
    # import `select`, which finds ensemble/select.py. It must hand over the real extension module.
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import select, selectors, subprocess; "
        "print(select.__file__); print(hasattr(select, 'poll') and hasattr(select, 'select'))"
    )
    done = _run(["-c", code, str(PROJECT_ROOT / "ensemble")], tmp_path)
    assert done.returncode == 0, done.stderr
    where, has_api = done.stdout.split()
    assert "lib-dynload" in where and not where.startswith(str(PROJECT_ROOT)) and has_api == "True"


def _modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (PROJECT_ROOT / pkg).rglob("*.py"))


def test_no_module_is_named_like_a_standard_library_module() -> None:
    # a script's folder heads the module search path: a module named like the standard library's shadows it
    clash = [p for p in _modules() if p.stem in sys.stdlib_module_names and p != PROJECT_ROOT / "ensemble/select.py"]
    assert clash == []


def test_no_search_path_edits_ray_only_under_tune_and_small_modules() -> None:
    ray_import = re.compile(r"^\s*(import ray|from ray)", re.M)
    for p in _modules():
        text = p.read_text(encoding="utf-8")
        rel = p.relative_to(PROJECT_ROOT)
        assert "sys" + ".path" not in text, rel
        assert rel.parts[0] == "tune" or not ray_import.search(text), rel
        assert len(text.splitlines()) <= 400, rel
