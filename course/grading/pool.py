"""A small pool of sandboxed kernels, started ahead of need and used once each.

Each kernel gets its own empty working copy (a fresh folder outside the course root) and
runs under `sandbox.py`, which limits its memory and where it can write, in a cgroup of its
own where one is available (processes.py), with the attempt monitor (monitor.py) reporting
on a pipe only this process reads. Starting kernels while others are still grading hides the
start-up time; using each kernel for one notebook only keeps submissions from sharing state.
"""

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from IPython.core.profiledir import ProfileDir
from jupyter_client.manager import AsyncKernelManager
from traitlets import Dict

from course.grading import monitor, sandbox
from course.grading.processes import ProcessLimits

SANDBOX = str(Path(sandbox.__file__).resolve())
KEEP_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "HOME", "USER", "LOGNAME", "TZ", "SYSTEMROOT")


@dataclass(frozen=True)
class Limits:
    """What one notebook may use."""

    cell_timeout: int = 30          # seconds per cell
    memory_mb: int = 1024           # address space of the kernel process
    output_bytes: int = 1_000_000   # outputs kept per notebook
    file_mb: int = 100              # largest file the kernel may write
    notebook_mb: int = 20           # largest submitted notebook read
    processes: int = 128            # processes and threads of one kernel, itself included


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager that launches the kernel through sandbox.py."""

    sandbox_settings = Dict()

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        return [sys.executable, "-I", "-S", SANDBOX, json.dumps(self.sandbox_settings), "--", *cmd]


@dataclass
class Kernel:
    km: SandboxedKernelManager
    kc: object
    workdir: Path
    reports: int                  # the read end of the monitor's pipe
    report_fd: int                # the number of its write end in the kernel
    pipe: int                     # the pipe's inode
    monitored: bool               # the monitor said it started
    group: Path | None = None     # the kernel's cgroup
    stopped: str | None = None    # why the grader stopped the kernel, if it did


@dataclass
class KernelPool:
    """Keeps up to `size` kernels starting or ready, never more than `needed` in all."""

    base: Path
    size: int
    needed: int
    limits: Limits
    hidden: Path | None = None
    processes: ProcessLimits | None = None
    kernel_name: str = "python3"
    _ready: asyncio.Queue = field(default_factory=asyncio.Queue)
    _started: int = 0
    _taken: int = 0
    _serial: int = 0
    _tasks: set = field(default_factory=set)

    def __post_init__(self):
        # IPython needs a profile it may not create itself (the sandbox forbids writing there)
        (self.base / "ipython").mkdir(exist_ok=True)
        ProfileDir.create_profile_dir_by_name(str(self.base / "ipython"), "default")
        # ipykernel imports the debugger at start-up (a third of its CPU); grading needs none
        stub = self.base / "no-debugger" / "debugpy"
        stub.mkdir(parents=True, exist_ok=True)
        (stub / "__init__.py").write_text('raise ImportError("no debugger in grading kernels")\n')

    def fill(self) -> None:
        while self._started < self.needed and self._started - self._taken < self.size:
            self._started += 1
            task = asyncio.ensure_future(self._start())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def take(self) -> Kernel:
        """A started kernel; raises the start-up error if it failed."""
        self.fill()
        result = await self._ready.get()
        self._taken += 1
        self.fill()
        if isinstance(result, BaseException):
            raise result
        return result

    async def _start(self) -> None:
        self._serial += 1
        name = f"k{self._serial:04d}"
        try:
            kernel = await self._launch(name)
        except Exception:
            # once more, with new ports: another program may have taken one of those
            # jupyter_client picked before the kernel bound it (jupyter_client issue 154)
            try:
                kernel = await self._launch(f"{name}-again")
            except BaseException as err:
                kernel = RuntimeError(f"kernel failed to start: {err}")
        except BaseException as err:
            kernel = RuntimeError(f"kernel failed to start: {err}")
        await self._ready.put(kernel)

    async def _launch(self, name: str) -> Kernel:
        workdir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.base))
        (workdir / "tmp").mkdir()
        (workdir / "home").mkdir()  # caches and settings libraries write go to the copy
        reports, report_fd = os.pipe()
        os.set_blocking(reports, False)
        group = None
        settings = {
            "workdir": str(workdir),
            "memory_bytes": self.limits.memory_mb * 2**20,
            "file_size_bytes": self.limits.file_mb * 2**20,
            "hidden": str(self.hidden) if self.hidden else None,
            "report_fd": report_fd,
            "watched": [str(self.base)],  # the other kernels' copies
            "processes": self.limits.processes,
        }
        env = {k: os.environ[k] for k in KEEP_ENV if k in os.environ}
        env.update(HOME=str(workdir / "home"), TMPDIR=str(workdir / "tmp"), MPLBACKEND="agg",
                   IPYTHONDIR=str(self.base / "ipython"), OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
                   MKL_NUM_THREADS="1", MALLOC_ARENA_MAX="2",
                   PYTHONPATH=str(self.base / "no-debugger"), NBGRADER_EXECUTION="autograde",
                   PYTHONDONTWRITEBYTECODE="1")  # the sandbox refuses writes to __pycache__
        km = SandboxedKernelManager(kernel_name=self.kernel_name, sandbox_settings=settings)
        try:
            try:
                if self.processes:
                    group = self.processes.new(name, self.limits.processes)
                    settings["cgroup"] = str(group)
                await km.start_kernel(cwd=str(workdir), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      pass_fds=(report_fd,), extra_arguments=["--HistoryManager.hist_file=:memory:"])
            finally:
                os.close(report_fd)  # the kernel has its own copy
            kc = km.client()
            kc.start_channels()
            kc.allow_stdin = False
            await kc.wait_for_ready(timeout=60)
        except BaseException:
            await _stop(km, None, workdir)
            os.close(reports)
            if group:
                await self.processes.remove(group)
            raise
        # what the kernel did while starting is not the submission's: it has not run yet
        ready = monitor.parse(_drain(reports))[0]
        return Kernel(km, kc, workdir, reports, report_fd, os.fstat(reports).st_ino, ready, group)

    async def watch(self, kernel: Kernel) -> None:
        """While a notebook runs: stop the kernel as soon as it is refused a new process."""
        if not (self.processes and kernel.group):
            return
        while True:
            await asyncio.sleep(0.2)
            if self.processes.refused(kernel.group):
                kernel.stopped = (f"started too many processes (the limit is {self.limits.processes}): "
                                  "all of them were stopped")
                await self.processes.stop(kernel.group)
                return

    def attempts(self, kernel: Kernel) -> tuple[list[tuple[str, str]], list[str]]:
        """After a notebook: what its code tried outside the sandbox (the monitor's reports
        and signs of tampering with them), and other problems (too many processes)."""
        ready, reports, foreign = monitor.parse(_drain(kernel.reports))
        if foreign:
            reports.append(("foreign", f"{foreign} line(s)"))
        pid = getattr(kernel.km.provisioner, "pid", None)
        if kernel.monitored and pid and _alive(pid):  # seen from outside: the kernel cannot fake it
            try:
                link = os.readlink(f"/proc/{pid}/fd/{kernel.report_fd}")
            except OSError:
                link = "closed"
            if link != f"pipe:[{kernel.pipe}]" and _alive(pid):
                reports.append(("unplug", ""))
        problems = []
        if kernel.stopped is None and self.processes and kernel.group and self.processes.refused(kernel.group):
            problems.append(f"started too many processes (the limit is {self.limits.processes})")
        return reports, problems

    async def discard(self, kernel: Kernel) -> None:
        await _stop(kernel.km, kernel.kc, kernel.workdir)
        os.close(kernel.reports)
        if kernel.group:  # what the kernel started that outlived it (a new session, a bomb)
            await self.processes.remove(kernel.group)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        while not self._ready.empty():
            result = self._ready.get_nowait()
            if isinstance(result, Kernel):
                await self.discard(result)


def _alive(pid: int) -> bool:
    """Whether the process runs (not gone, not a zombie waiting to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2:][:1] not in ("Z", "X", "")


def _drain(fd: int, most: int = 2**20) -> bytes:
    """What is in a non-blocking pipe now (at most `most` bytes)."""
    data = b""
    while len(data) < most:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            break
        if not chunk:
            break
        data += chunk
    return data


async def _stop(km, kc, workdir: Path) -> None:
    try:
        if kc is not None:
            kc.stop_channels()
        if km.has_kernel:
            await km.shutdown_kernel(now=True)
    except Exception:  # a kernel that is already gone is what we want
        pass
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
