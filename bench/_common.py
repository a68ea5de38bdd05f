"""Shared by the benches that time whole commands (run as `python bench/NAME.py`: bench/ is on sys.path)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from trainables.paths import PROJECT_ROOT


def run_logged(cmd: list[str], env: dict[str, str], log: Path) -> float:
    t0 = time.perf_counter()
    with log.open("w") as f:
        proc = subprocess.run(cmd, cwd=PROJECT_ROOT, env=env, stdout=f, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stdout.write(log.read_text()[-4000:])
        raise SystemExit(f"command failed (exit {proc.returncode}): {' '.join(cmd)}")
    return seconds
