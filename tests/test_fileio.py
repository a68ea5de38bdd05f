from __future__ import annotations

import os
import stat

from trainables.fileio import atomic_write_text, publishable


def mode(p) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def test_published_outputs_get_the_umask_default_not_owner_only(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "leaderboard.csv", "a\n")
        assert mode(tmp_path / "leaderboard.csv") == 0o644
        d = tmp_path / "stage"
        d.mkdir(mode=0o700)
        (d / "x").write_text("1")
        os.chmod(d / "x", 0o600)
        publishable(d)
        assert mode(d) == 0o755 and mode(d / "x") == 0o644
    finally:
        os.umask(old)
