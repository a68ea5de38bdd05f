"""File permissions for atomically published outputs.

mkstemp/mkdtemp create owner-only (0600/0700) entries; renamed into place as they are, results on a
shared cluster or NFS would be unreadable to everyone else. Give them the mode a plain open() would.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def default_mode(directory: bool = False) -> int:
    mask = os.umask(0)
    os.umask(mask)
    return (0o777 if directory else 0o666) & ~mask


def publishable(path: str | os.PathLike[str]) -> None:
    """chmod a temp file or folder (and a folder's contents) to the umask's default before renaming it."""
    p = Path(path)
    if p.is_dir():
        os.chmod(p, default_mode(directory=True))
        for child in p.rglob("*"):
            os.chmod(child, default_mode(directory=child.is_dir()))
    else:
        os.chmod(p, default_mode())


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write `text` (UTF-8, newlines as given) via a temporary file beside `path`, then one rename.

    Readers see the old file or the new one, never half of it; a failure leaves no temporary file behind.
    """
    import tempfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        publishable(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# --- output locations, checked before any work -------------------------------------------------------
MIN_FREE_MB_ENV = "STS_TUNE_MIN_FREE_MB"


class OutputError(ValueError):
    """An output location that cannot be written; the message names it and what to do."""


def check_output(path: str | os.PathLike[str], *, flag: str = "--output", is_file: bool = False,
                 min_free_mb: float = 50) -> None:
    """Refuse, before any work, an output that could not be written: raise OutputError in one line.

    `path` is a folder to create or fill (or, with `is_file`, a file whose folder must be writable). The check
    creates nothing that stays: it probes the folder (or its nearest existing ancestor, when the folder would
    be created) with a temporary entry it removes at once, then checks the free space there
    ($STS_TUNE_MIN_FREE_MB overrides `min_free_mb`).
    """
    import errno
    import shutil
    import tempfile

    target = Path(path).expanduser().absolute()
    if is_file and target.is_dir():
        raise OutputError(f"{flag} {target} is a folder; pass a file path such as {target / 'out.csv'}")
    folder = target.parent if is_file else target
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{flag} {target}: {existing} is a file, not a folder; choose another {flag}")
    try:
        if existing == folder:
            fd, probe = tempfile.mkstemp(prefix=".sts-tune-probe-", dir=existing)
            os.close(fd)
            os.unlink(probe)
        else:  # the folder would be created below `existing`: probe that a folder can be made there
            os.rmdir(tempfile.mkdtemp(prefix=".sts-tune-probe-", dir=existing))
    except OSError as e:
        why = "not a writable filesystem" if e.errno == errno.ENOENT else (e.strerror or str(e)).lower()
        raise OutputError(f"{flag} {target}: cannot write in {existing} ({why}); choose a writable location") from None
    need = float(os.environ.get(MIN_FREE_MB_ENV) or min_free_mb)
    free = shutil.disk_usage(existing).free / 2**20
    if free < need:
        raise OutputError(
            f"{flag} {target}: only {free:.0f} MB free on {existing} (at least {need:.0f} MB needed); "
            "free some space or choose another location"
        )


def file_digest(path: Path) -> dict[str, int | str]:
    """{"rows": data rows (lines after the header), "sha256": of the bytes} of a prediction CSV."""
    h, lines = hashlib.sha256(), 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            lines += chunk.count(b"\n")
    return {"rows": max(lines - 1, 0), "sha256": h.hexdigest()}
