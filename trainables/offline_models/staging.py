"""Build a model directory beside its destination and publish it with one rename, under a file lock.

Readers see no directory or a complete one: a failed or interrupted build leaves nothing at the
destination (an interrupted one at worst a hidden `.NAME.partial.*` folder, removed by the next build).
A second process that asks for the same directory while a build runs waits on the lock, then reuses the
result. A published directory carries BUILD_INFO.json with the sha256 of every output file, so
"already built" is a re-verification, not a guess from file names.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from trainables.fileio import publishable

BUILD_INFO = "BUILD_INFO.json"
LOCK_TIMEOUT_S = 30 * 60  # a build takes well under a minute; waiting longer means a stuck or dead holder


class OfflineBuildError(RuntimeError):
    """An offline model build failed; the one-line message says what to do. Nothing was published."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def output_hashes(model_dir: Path, files: Iterable[str]) -> dict[str, dict[str, Any]]:
    return {name: {"sha256": sha256_file(model_dir / name), "bytes": (model_dir / name).stat().st_size}
            for name in files}


def read_build_info(model_dir: Path) -> dict[str, Any] | None:
    try:
        info = json.loads((Path(model_dir) / BUILD_INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def is_complete(model_dir: str | os.PathLike[str]) -> bool:
    """True when BUILD_INFO.json lists output files and each exists with the recorded size and sha256."""
    model_dir = Path(model_dir)
    info = read_build_info(model_dir)
    outputs = info.get("outputs") if info else None
    if not isinstance(outputs, dict) or not outputs:
        return False
    try:
        for name, want in outputs.items():
            path = model_dir / name
            # size first: a truncated file is caught without hashing 100 MB
            if path.stat().st_size != want["bytes"] or sha256_file(path) != want["sha256"]:
                return False
    except (OSError, KeyError, TypeError):
        return False
    return True


def write_build_info(model_dir: Path, info: dict[str, Any], files: Iterable[str]) -> None:
    """BUILD_INFO.json with the hashes of `files`; written last, it is what marks the directory complete."""
    info = {**info, "outputs": output_hashes(model_dir, files)}
    (model_dir / BUILD_INFO).write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _remove_leftovers(out_dir: Path) -> None:
    """Staging folders of interrupted builds (only called while holding the lock, so none is in use)."""
    for stale in out_dir.parent.glob(f".{out_dir.name}.partial.*"):
        shutil.rmtree(stale, ignore_errors=True)
    for stale in out_dir.parent.glob(f".{out_dir.name}.old.*"):
        shutil.rmtree(stale, ignore_errors=True)


def staged_build(out_dir: str | os.PathLike[str], build: Callable[[Path], None], *,
                 progress: Callable[[str], None] = print, label: str = "build",
                 lock_timeout: float = LOCK_TIMEOUT_S) -> Path:
    """Run `build(stage)` into a fresh folder beside `out_dir`, then rename it to `out_dir`.

    `build` must leave a complete directory (see `is_complete`: it writes BUILD_INFO.json last), or raise.
    Returns the absolute `out_dir`; skips the build when `out_dir` is already complete.
    """
    from filelock import FileLock, Timeout

    out_dir = Path(out_dir).expanduser().resolve()
    if is_complete(out_dir):
        return out_dir
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OfflineBuildError(f"cannot create {out_dir.parent} ({e.strerror}): choose a writable directory "
                                "(for the project cache set $STS_TUNE_CACHE)") from e
    lock = FileLock(str(out_dir.parent / f".{out_dir.name}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        progress(f"[{label}] another process is building {out_dir}; waiting for it (lock {lock.lock_file})")
        t0 = time.perf_counter()
        try:
            lock.acquire(timeout=lock_timeout)
        except Timeout as e:
            raise OfflineBuildError(f"another build of {out_dir} has held {lock.lock_file} for "
                                    f"{time.perf_counter() - t0:.0f} s; if no build is running, delete that "
                                    "file and retry") from e
    try:
        if is_complete(out_dir):  # the other process finished while we waited
            progress(f"[{label}] {out_dir} was built by another process; reusing it")
            return out_dir
        if out_dir.exists() and not out_dir.is_dir():
            raise OfflineBuildError(f"{out_dir} exists and is not a directory: remove it or choose another path")
        if out_dir.is_dir() and any(out_dir.iterdir()) and read_build_info(out_dir) is None:
            # never delete a folder this code did not write (a mistyped path could be anything)
            raise OfflineBuildError(f"{out_dir} exists and is not a model built by sts-tune (no {BUILD_INFO}): "
                                    "remove it or choose another directory")
        _remove_leftovers(out_dir)
        stage = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial.", dir=out_dir.parent))
        try:
            build(stage)
            if not is_complete(stage):
                raise OfflineBuildError(f"{label}: the build left an incomplete directory (a bug): nothing "
                                        f"was published to {out_dir}")
            publishable(stage)  # mkdtemp makes 0700: others on a shared cache must read it
            if out_dir.exists():  # an empty folder or an incomplete/corrupt earlier build of ours
                old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old.", dir=out_dir.parent))
                os.replace(out_dir, old / "model")
                shutil.rmtree(old, ignore_errors=True)
            os.replace(stage, out_dir)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
    finally:
        lock.release()
    return out_dir
