"""File permissions for atomically published outputs.

mkstemp/mkdtemp create owner-only (0600/0700) entries; renamed into place as they are, results on a
shared cluster or NFS would be unreadable to everyone else. Give them the mode a plain open() would.
"""

from __future__ import annotations

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
