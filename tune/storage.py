"""Where an experiment is written: shared enough for the cluster, and with room for its trials.

Ray (>= 2.7) needs storage every node can write; a full disk mid-search must end in one line that says how much
is free and how much a trial needs, so `estimate_trial_mb` sizes a trial's files and `no_space` recognises the
many shapes ENOSPC takes once Ray has wrapped it.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from trainables.config import ConfigError

if TYPE_CHECKING:
    from tune.search import Plan

NETWORK_FILESYSTEMS = ("nfs", "nfs4", "cifs", "smb3", "lustre", "gpfs", "ceph", "glusterfs", "beegfs",
                       "fuse.s3fs", "fuse.gcsfuse", "fuse.juicefs", "efs", "9p", "virtiofs")


def filesystem_type(path: str) -> str:
    """The mount type of the filesystem holding `path` (from /proc/mounts; '' when unknown)."""
    target = Path(path)
    while not target.exists() and target != target.parent:
        target = target.parent
    target = target.resolve()
    best, kind = "", ""
    try:
        with open("/proc/mounts", encoding="utf-8") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3:
                    mnt = parts[1].replace("\\040", " ")
                    if (str(target) == mnt or str(target).startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                        best, kind = mnt, parts[2]
    except OSError:
        return ""
    return kind


def check_storage_for_cluster(storage: str, alive_nodes: int, asserted_shared: bool) -> None:
    """Ray (>= 2.7) needs storage that every node can write: refuse a head-local path on a multi-node cluster."""
    if alive_nodes <= 1 or "://" in storage or asserted_shared:
        return
    fstype = filesystem_type(storage)
    if fstype in NETWORK_FILESYSTEMS or fstype.startswith("fuse."):
        return
    raise ConfigError(
        f"--storage {storage} is a local path ({fstype or 'unknown'} filesystem) but the cluster has {alive_nodes} "
        "nodes: trials on worker nodes could not save their checkpoints there. Use --storage s3://BUCKET/PREFIX, "
        "gs://…, or an NFS path mounted on every node (pass --storage-is-shared if it is shared but not detected)."
    )


# --- disk space ------------------------------------------------------------------------------------
# the kept checkpoint plus the next one being written before Ray prunes the old: two sets of weights per trial
CHECKPOINTS_PER_TRIAL = 2
TRIAL_OVERHEAD_MB = 2.0  # result.json, progress.csv, params, TensorBoard events


def free_mb(path: str) -> float | None:
    """Free space (MB) on the filesystem that holds `path` (its nearest existing ancestor); None for URIs."""
    if "://" in path:
        return None
    target = Path(path)
    while not target.exists() and target != target.parent:
        target = target.parent
    try:
        return shutil.disk_usage(target).free / 2**20
    except OSError:
        return None


def estimate_trial_mb(p: Plan) -> float:
    """The storage one trial needs: its checkpoints' weights (counted on the meta device, no memory used),
    dev/test prediction files and Ray's logs; the largest over the plan's backbone variants."""
    import torch

    from trainables.model import STSRegressor

    biggest = 0
    for cfg in p.variants:
        try:
            with torch.device("meta"):
                model = STSRegressor(cfg, pretrained=False)
        except Exception:  # sizing is advice: a config it cannot build here never stops the search
            continue
        biggest = max(biggest, sum(t.numel() * t.element_size() for t in model.state_dict().values()))
    return CHECKPOINTS_PER_TRIAL * biggest / 2**20 + TRIAL_OVERHEAD_MB


def warn_if_short(p: Plan, trials: int, per_trial_mb: float) -> str | None:
    """A warning line when the storage cannot hold `trials` trials of `per_trial_mb` each (None when it can)."""
    free = free_mb(p.storage)
    need = per_trial_mb * trials
    if free is None or free >= need:
        return None
    return (f"{p.storage} has {free:.0f} MB free but {trials} trials need ~{need:.0f} MB (~{per_trial_mb:.0f} MB "
            "each): the search will stop when the disk fills; free space, or lower --num-samples")


def no_space(exc: BaseException | str | None) -> bool:
    """Whether an exception (its chain and context) or an error text is a full disk."""
    seen = 0
    while isinstance(exc, BaseException) and seen < 20:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(exc) or "Disk quota exceeded" in str(exc):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return isinstance(exc, str) and ("No space left on device" in exc or "[Errno 28]" in exc
                                     or "[errno 28]" in exc)


def no_space_line(storage: str, per_trial_mb: float, resume_command: str) -> str:
    free = free_mb(storage)
    have = "?" if free is None else f"{free:.0f}"
    return (f"no space left on {storage}: {have} MB free, a trial needs ~{per_trial_mb:.0f} MB; free space, then "
            f"continue with: {resume_command}")


# a ballast file in the experiment, released when the disk fills so the driver's last writes (Ray's experiment
# state, leaderboard, summary, history) still fit
RESERVE_FILE = ".sts-tune-reserve"
RESERVE_MB = 4


def reserve(exp_dir: str) -> None:
    if "://" in exp_dir:
        return
    path = Path(exp_dir) / RESERVE_FILE
    try:
        with open(path, "wb") as f:
            for _ in range(RESERVE_MB):
                f.write(b"\0" * 2**20)  # real blocks, not a sparse file
    except OSError:  # no room even for the ballast: the watch will stop the search at once
        path.unlink(missing_ok=True)


def release_reserve(exp_dir: str) -> None:
    if "://" in exp_dir:
        return
    try:
        (Path(exp_dir) / RESERVE_FILE).unlink(missing_ok=True)
    except OSError:  # not a folder (a bad --storage, already reported)
        pass
