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
