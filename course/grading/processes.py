"""How many processes a grading kernel may have: a cgroup of its own with the pids controller.

RLIMIT_NPROC cannot do it: it counts all of a user's processes, and root, as which CI and
many graders run, is not held by it at all. A cgroup's `pids.max` counts exactly the kernel
and what it starts (threads included), for any user; `pids.events` tells that a fork was
refused (a fork bomb, or a submission starting too many processes); and every process in
the cgroup can be stopped, also those that left the kernel's session. The kernel cannot
leave its cgroup: under Landlock it cannot write to the cgroup file system.

`ProcessLimits.create()` finds a pids controller this process may use (cgroup v2, at the root
of the hierarchy; or a cgroup v1 pids hierarchy, under the grader's own cgroup in it), makes
a folder for the run and one cgroup per kernel in it; a run killed half way leaves its
folder, which the next run empties. Elsewhere (no cgroup file system, one not writable, a
container without delegation) it returns None, and the sandbox falls back to RLIMIT_NPROC
(which holds for users other than root).
"""

import asyncio
import os
import re
import secrets
import signal
import time
from pathlib import Path

PREFIX = "igcb-grade-"


def _mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, type, options) of the cgroup file systems."""
    found = []
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        fields = line.split()
        if len(fields) >= 4 and fields[2] in ("cgroup", "cgroup2"):
            found.append((fields[1].replace("\\040", " "), fields[2], set(fields[3].split(","))))
    return found


def _write(path: Path, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _pids_of(group: Path) -> list[int]:
    try:
        return [int(p) for p in (group / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


class ProcessLimits:
    """One cgroup folder for a grading run, a cgroup in it per kernel."""

    def __init__(self, run: Path):
        self.run = run

    @classmethod
    def create(cls) -> "ProcessLimits | None":
        for mount, kind, options in _mounts():
            root = Path(mount)
            try:
                if kind == "cgroup2" and "pids" in (root / "cgroup.controllers").read_text().split():
                    # a cgroup with processes cannot give controllers to its children, except
                    # the root: so the run's folder goes at the root of the hierarchy
                    if "pids" not in (root / "cgroup.subtree_control").read_text().split():
                        _write(root / "cgroup.subtree_control", "+pids")
                    limits = cls._make(root)
                    try:
                        _write(limits.run / "cgroup.subtree_control", "+pids")
                    except OSError:
                        limits.close()
                        raise
                    return limits
                if kind == "cgroup" and "pids" in options:
                    own = next((line.split(":", 2)[2] for line in Path("/proc/self/cgroup").read_text().splitlines()
                                if "pids" in line.split(":")[1].split(",")), "/")
                    return cls._make(root / own.lstrip("/"))
            except OSError:
                continue
        return None

    @classmethod
    def _make(cls, parent: Path) -> "ProcessLimits":
        _remove_stale(parent)
        run = parent / f"{PREFIX}{os.getpid()}-{secrets.token_hex(3)}"
        run.mkdir()
        return cls(run)

    def new(self, name: str, limit: int) -> Path:
        """A cgroup for one kernel, allowing `limit` processes and threads."""
        group = self.run / name
        group.mkdir()
        _write(group / "pids.max", str(limit))
        return group

    def refused(self, group: Path) -> int:
        """How many times a new process or thread was refused in the group."""
        try:
            match = re.search(r"^max (\d+)", (group / "pids.events").read_text(), re.M)
        except OSError:
            return 0
        return int(match.group(1)) if match else 0

    async def stop(self, group: Path) -> None:
        """Stop every process of the group; nothing in it can start another meanwhile."""
        for _ in range(100):
            if not _kill_round(group):
                return
            await asyncio.sleep(0.01)

    async def remove(self, group: Path) -> None:
        await self.stop(group)
        _rmdir(group)

    def close(self) -> None:
        """Stop what is left of every kernel and remove the run's cgroups."""
        for group in self.run.glob("k*"):
            for _ in range(100):
                if not _kill_round(group):
                    break
                time.sleep(0.01)
            _rmdir(group)
        _rmdir(self.run)


def available() -> bool:
    """Whether kernels here can get a process limit of their own."""
    limits = ProcessLimits.create()
    if limits:
        limits.close()
    return limits is not None


def _rmdir(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:  # still busy: left for the next run's clean-up
        pass


def _remove_stale(parent: Path) -> None:
    """Remove what runs that were killed left behind (their grader is gone)."""
    for run in parent.glob(f"{PREFIX}*"):
        pid = run.name[len(PREFIX):].split("-")[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            ProcessLimits(run).close()  # stops the kernels the killed run left running


def _kill_round(group: Path) -> bool:
    """Forbid new processes in the group and kill those in it; False if there were none."""
    pids = _pids_of(group)
    if not pids:
        return False
    for name, value in (("pids.max", "0"), ("cgroup.kill", "1")):  # cgroup.kill: v2 only
        try:
            _write(group / name, value)
        except OSError:
            pass
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return True
