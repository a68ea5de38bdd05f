"""Fault soak (issue 13): kill a small search at a random point, resume it, check nothing was lost or re-run.

    python bench/soak_faults.py --kinds sigint kill_driver kill_worker disk_full --cycles 5 --seed 1

Each cycle runs `tune/search.py --space tiny --max-epochs 2 --set limit_train_batches=10 --num-samples 4` in a
fresh storage folder and hits it with one fault at a random point (after 1-5 reported results plus 0-2 s; for
sigint and kill_driver one cycle in five during start-up instead, 3-12 s in):

  sigint       SIGINT to the driver's whole process group (what Ctrl-C does): exit 130
  kill_driver  SIGKILL to the driver alone: exit 137 (-9)
  kill_worker  SIGKILL to one of this search's `ray::ImplicitFunc` trial workers: Tune retries the trial from
               its checkpoint and the search ends by itself, 4/4, exit 0
  disk_full    the storage is a 300 MB tmpfs (needs root), filled at the fault point up to 2-40 MB free (a
               trial needs ~20): the driver stops in one line (`error: no space left on …`), exit 2; the
               filler is then deleted (space freed) before the resume

Then `--resume` (same command) must exit 0 and the experiment must be complete: `leaderboard.csv` has
num-samples rows, all TERMINATED; every trial known before the fault is still there (none lost); and every trial
the folder called finished before the fault (TERMINATED in leaderboard.csv or in Ray's newest
experiment_state-*.json) has exactly as many result.json lines after the resume (none re-run). One line per
cycle, then a totals table; exit 1 if any cycle failed. Drivers run with PYTHONFAULTHANDLER=1 so a crash
(e.g. exit 139) leaves its Python stack in the cycle's run1.log. Logs: ROOT/KIND-N/{run1,resume}.log.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import PROJECT_ROOT

KINDS = ("sigint", "kill_driver", "kill_worker", "disk_full")
WANT_RC = {"sigint": 130, "kill_driver": 137, "kill_worker": 0, "disk_full": 2}
SEARCH = ["--space", "tiny", "--max-epochs", "2", "--set", "limit_train_batches=10", "--num-cpus", "1"]
# Where a fault lands. Wall time alone says little (the first trial starts 10-30 s in, by load), so most faults
# land after a random number of reported results (a search reports 5-8), plus up to 2 s; one in five lands
# during start-up (before Ray has saved any trial state): the case a --resume must start afresh.
STARTUP_S = (3.0, 12.0)
RESULTS = (1, 5)
EXTRA_S = 2.0
TMPFS = "300m"  # the driver's preflight wants 200 MB free at the start: the disk is filled once it runs
LEFT_FREE_MB = (2, 40)
FILLER = "filler.bin"  # beside the experiment folder, in the storage


@dataclass
class FaultPoint:
    seconds: float = 0.0  # start-up: this long after the driver started
    results: int | None = None  # else: once the trials have reported this many results in all, plus `extra_s`
    extra_s: float = 0.0

    @property
    def text(self) -> str:
        if self.results is None:
            return f"start-up +{self.seconds:.1f}s"
        return f"{self.results} results +{self.extra_s:.1f}s"

    def wait(self, proc: subprocess.Popen, exp: Path, sid: int, need_worker: bool) -> bool:
        """Block until the point (and a trial worker, if needed) is reached; False if the driver ended first."""
        t0 = time.monotonic()
        while True:
            if proc.poll() is not None:
                return False
            if self.results is None:
                reached = time.monotonic() - t0 >= self.seconds
            else:
                reached = sum(result_lines(exp).values()) >= self.results
            if reached and (not need_worker or trial_workers(sid)):
                break
            time.sleep(0.2)
        try:
            proc.wait(timeout=self.extra_s)
            return False
        except subprocess.TimeoutExpired:
            return True


def fault_point(kind: str, rng: random.Random) -> FaultPoint:
    if kind in ("sigint", "kill_driver") and rng.random() < 0.2:
        return FaultPoint(seconds=rng.uniform(*STARTUP_S))
    return FaultPoint(results=rng.randint(*RESULTS), extra_s=rng.uniform(0, EXTRA_S))


def json_or_empty(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


@dataclass
class Cycle:
    kind: str
    n: int
    rc: int | None = None
    resume_rc: int | None = None
    fault_at: float | None = None
    point: str = ""
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    finished_before: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


# --- looking at an experiment folder -------------------------------------------------------------
def leaderboard(exp: Path) -> list[dict[str, str]]:
    try:
        with (exp / "leaderboard.csv").open(newline="") as f:
            return list(csv.DictReader(f))
    except OSError:
        return []


def saved_state(exp: Path) -> dict[str, str]:
    """trial_id -> status in Ray's newest experiment_state-*.json (the file names sort by session start)."""
    files = sorted(exp.glob("experiment_state-*.json"), key=lambda f: f.name)
    if not files:
        return {}
    try:
        state = json.loads(files[-1].read_text())
    except (OSError, ValueError):
        return {}
    out = {}
    for trial_json, _meta in state.get("trial_data", []):
        trial = json.loads(trial_json)
        out[str(trial["trial_id"])] = str(trial["status"])
    return out


def result_lines(exp: Path) -> dict[str, int]:
    """trial folder name (the trial id) -> lines in its result.json."""
    out = {}
    for d in exp.iterdir() if exp.is_dir() else ():
        f = d / "result.json"
        if d.is_dir() and f.exists():
            with f.open("rb") as fh:
                out[d.name] = sum(1 for line in fh if line.strip())
    return out


def snapshot(exp: Path) -> tuple[set[str], set[str], dict[str, int]]:
    """(every trial the folder knows, the trials it calls finished, result.json lines per trial)."""
    board = {r["trial_id"]: r.get("status", "") for r in leaderboard(exp)}
    state = saved_state(exp)
    lines = result_lines(exp)
    known = set(board) | set(state) | set(lines)
    finished = {t for t, s in board.items() if s == "TERMINATED"} | {t for t, s in state.items() if s == "TERMINATED"}
    return known, finished, lines


# --- processes -----------------------------------------------------------------------------------
def session_pids(sid: int) -> list[int]:
    """Processes in session `sid` (the driver's: it was started with start_new_session)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 3 and int(fields[3]) == sid:
            pids.append(int(entry.name))
    return pids


def cmdline(pid: int) -> str:
    try:
        return (Path(f"/proc/{pid}/cmdline")).read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def trial_workers(sid: int) -> list[int]:
    return [p for p in session_pids(sid) if cmdline(p).startswith("ray::ImplicitFunc")]


def wait_session_gone(sid: int, timeout: float = 20.0) -> list[str]:
    """Wait for the session's processes to end (Ray's raylet and workers die with their driver); then kill
    what is left of it (only processes this soak started) and return their command lines."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = session_pids(sid)
        if not left:
            return []
        time.sleep(0.5)
    left = session_pids(sid)
    names = [cmdline(pid)[:40].strip() or str(pid) for pid in left]
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return names


def start(cmd: list[str], log: Path, env: dict[str, str]) -> tuple[subprocess.Popen, object]:
    f = log.open("w")
    proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env, stdout=f, stderr=subprocess.STDOUT,
                            start_new_session=True)
    return proc, f


def exit_status(rc: int) -> int:
    return 128 - rc if rc < 0 else rc  # Popen says -9 for a SIGKILL; a shell says 137


# --- one cycle -----------------------------------------------------------------------------------
def run_cycle(kind: str, n: int, root: Path, rng: random.Random, num_samples: int, env: dict[str, str]) -> Cycle:
    c = Cycle(kind, n)
    t0 = time.monotonic()
    cdir = root / f"{kind}-{n}"
    store = cdir / "store"
    if cdir.exists():
        unmount(store)
        shutil.rmtree(cdir)
    store.mkdir(parents=True)
    if kind == "disk_full":
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS}", "tmpfs", str(store)], check=True)
    exp = store / "s"
    cmd = [sys.executable, "tune/search.py", *SEARCH, "--num-samples", str(num_samples), "--storage", str(store),
           "--name", "s"]
    try:
        proc, log = start(cmd, cdir / "run1.log", env)
        sid = proc.pid
        point = fault_point(kind, rng)
        c.point = point.text
        at_fault: tuple[set[str], set[str], dict[str, int]] = (set(), set(), {})
        try:
            if not point.wait(proc, exp, sid, need_worker=kind == "kill_worker"):
                c.problems.append(f"search ended (rc {proc.returncode}) before the fault ({point.text})")
            else:
                c.fault_at = time.monotonic() - t0
                at_fault = snapshot(exp)
                if (json_or_empty(exp / "summary.json").get("state")) == "finished":
                    c.notes.append("the search had finished its trials at the fault")
                hit(kind, proc, sid, c, store, rng)
            proc.wait(timeout=600)
        finally:
            log.close()
        c.rc = exit_status(proc.returncode)
        if left := wait_session_gone(sid):
            c.notes.append(f"{len(left)} processes outlived the driver by 20s (killed): {', '.join(left)}")
        run1 = (cdir / "run1.log").read_text(errors="replace")
        if c.rc != WANT_RC[kind]:
            c.problems.append(f"exit {c.rc}, wanted {WANT_RC[kind]}")
        if "Fatal Python error" in run1:
            c.notes.append("faulthandler stack in run1.log")
        if kind == "disk_full":
            if "error: no space left on" not in run1:
                c.problems.append("no 'error: no space left on' line")
            (store / FILLER).unlink(missing_ok=True)  # free the space, as the message asks
        # a trial finished at the fault must be untouched from then on (kill_worker: by the same driver's
        # retries too); one that finished between the fault and the driver's exit, from its exit on
        known, finished, lines = snapshot(exp)
        lines = {**lines, **{t: at_fault[2].get(t, 0) for t in at_fault[1]}}
        known, finished = known | at_fault[0], finished | at_fault[1]
        c.finished_before = len(at_fault[1] if kind == "kill_worker" else finished)

        with (cdir / "resume.log").open("w") as f:
            resumed = subprocess.run([*cmd, "--resume"], cwd=PROJECT_ROOT, env=env, stdout=f,
                                     stderr=subprocess.STDOUT, timeout=900, start_new_session=True)
        c.resume_rc = resumed.returncode
        if c.resume_rc != 0:
            c.problems.append(f"resume exit {c.resume_rc}")
        check_complete(c, exp, num_samples, known, finished, lines)
    finally:
        c.seconds = time.monotonic() - t0
        if kind == "disk_full":
            unmount(store)
    return c


def hit(kind: str, proc: subprocess.Popen, sid: int, c: Cycle, store: Path, rng: random.Random) -> None:
    if kind == "disk_full":
        c.notes.append(f"filled to {fill(store, rng.uniform(*LEFT_FREE_MB)):.0f} MB free")
    elif kind == "sigint":
        os.killpg(sid, signal.SIGINT)  # the whole group, as Ctrl-C in a terminal does
    elif kind == "kill_driver":
        os.kill(proc.pid, signal.SIGKILL)
    else:
        try:
            os.kill(trial_workers(sid)[0], signal.SIGKILL)
        except (IndexError, ProcessLookupError):
            c.notes.append("the worker ended before the kill")


def fill(store: Path, leave_mb: float) -> float:
    """Write a filler file until `leave_mb` MB are left free on the store's filesystem; return what is left."""
    chunk = b"\0" * 2**20
    with (store / FILLER).open("wb") as f:
        while shutil.disk_usage(store).free / 2**20 > leave_mb + 1:
            try:
                f.write(chunk)
                f.flush()
            except OSError:  # the search's own writes got there first
                break
    return shutil.disk_usage(store).free / 2**20


def check_complete(c: Cycle, exp: Path, num_samples: int, known: set[str], finished: set[str],
                   before: dict[str, int]) -> None:
    rows = leaderboard(exp)
    status = {r["trial_id"]: r.get("status", "") for r in rows}
    not_done = sorted(t for t, s in status.items() if s != "TERMINATED")
    if len(rows) != num_samples:
        c.problems.append(f"{len(rows)} rows, wanted {num_samples}")
    if not_done:
        c.problems.append(f"not TERMINATED: {', '.join(f'{t} {status[t]}' for t in not_done)}")
    if lost := sorted(known - set(status)):
        c.problems.append(f"lost: {', '.join(lost)}")
    after = result_lines(exp)
    rerun = sorted(t for t in finished if after.get(t, 0) != before.get(t, 0))
    if rerun:
        c.problems.append("re-run: " + ", ".join(f"{t} {before.get(t, 0)}->{after.get(t, 0)} lines" for t in rerun))


def unmount(path: Path) -> None:
    if path.is_mount():
        subprocess.run(["umount", str(path)], check=False)


# --- report --------------------------------------------------------------------------------------
def line(c: Cycle) -> str:
    fault = f"fault at {c.point} ({c.fault_at:.0f}s)" if c.fault_at is not None else f"no fault ({c.point})"
    when = "at the kill" if c.kind == "kill_worker" else "before resume"
    text = (f"{c.kind:11s} #{c.n}  {fault}  rc {c.rc} (want {WANT_RC[c.kind]})  {c.finished_before} finished {when}"
            f"  resume rc {c.resume_rc}  {'PASS' if c.ok else 'FAIL'}  {c.seconds:.0f}s")
    extra = c.problems + c.notes
    return text + (f"  [{'; '.join(extra)}]" if extra else "")


def totals(cycles: list[Cycle]) -> str:
    out = ["", f"{'kind':11s} {'cycles':>6s} {'pass':>4s}  exit codes (first run)"]
    for kind in dict.fromkeys(c.kind for c in cycles):
        mine = [c for c in cycles if c.kind == kind]
        codes: dict[int | None, int] = {}
        for c in mine:
            codes[c.rc] = codes.get(c.rc, 0) + 1
        out.append(f"{kind:11s} {len(mine):6d} {sum(c.ok for c in mine):4d}  "
                   + ", ".join(f"{rc} x{k}" for rc, k in codes.items()))
    return "\n".join(out)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    p.add_argument("--cycles", type=int, default=5, help="cycles per kind")
    p.add_argument("--seed", type=int, default=0, help="seeds the fault times (not the searches)")
    p.add_argument("--num-samples", type=int, default=4)
    p.add_argument("--root", type=Path, default=Path("/tmp/sts-soak"), help="one folder per cycle under it")
    args = p.parse_args()
    rng = random.Random(args.seed)
    env = {**os.environ, "PYTHONFAULTHANDLER": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "PYTHONPATH": str(PROJECT_ROOT)}
    kinds = list(args.kinds)
    if "disk_full" in kinds and (os.geteuid() != 0 or shutil.which("mount") is None):
        print("disk_full skipped: it mounts a tmpfs as the storage, which needs root and mount(8)")
        kinds.remove("disk_full")
    cycles = []
    for kind in kinds:
        for n in range(1, args.cycles + 1):
            c = run_cycle(kind, n, args.root, rng, args.num_samples, env)
            cycles.append(c)
            print(line(c), flush=True)
    print(totals(cycles))
    return 0 if all(c.ok for c in cycles) else 1


if __name__ == "__main__":
    raise SystemExit(main())
