"""A small pool of sandboxed kernels, started ahead of need and used once each.

Each kernel gets its own empty working copy (a fresh folder outside the course root) and
runs under `sandbox.py`, which limits its memory and where it can write. Starting kernels
while others are still grading hides the start-up time; using each kernel for one notebook
only keeps submissions from sharing state.
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

from course.grading import sandbox

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


@dataclass
class KernelPool:
    """Keeps up to `size` kernels starting or ready, never more than `needed` in all."""

    base: Path
    size: int
    needed: int
    limits: Limits
    hidden: Path | None = None
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
        workdir = Path(tempfile.mkdtemp(prefix=f"k{self._serial:04d}-", dir=self.base))
        (workdir / "tmp").mkdir()
        settings = {
            "workdir": str(workdir),
            "memory_bytes": self.limits.memory_mb * 2**20,
            "file_size_bytes": self.limits.file_mb * 2**20,
            "hidden": str(self.hidden) if self.hidden else None,
        }
        env = {k: os.environ[k] for k in KEEP_ENV if k in os.environ}
        env.update(TMPDIR=str(workdir / "tmp"), MPLBACKEND="agg", IPYTHONDIR=str(self.base / "ipython"),
                   OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MALLOC_ARENA_MAX="2",
                   PYTHONPATH=str(self.base / "no-debugger"), NBGRADER_EXECUTION="autograde")
        km = SandboxedKernelManager(kernel_name=self.kernel_name, sandbox_settings=settings)
        try:
            await km.start_kernel(cwd=str(workdir), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  extra_arguments=["--HistoryManager.hist_file=:memory:"])
            kc = km.client()
            kc.start_channels()
            kc.allow_stdin = False
            await kc.wait_for_ready(timeout=60)
        except BaseException as err:
            await _stop(km, None, workdir)
            await self._ready.put(RuntimeError(f"kernel failed to start: {err}"))
            return
        await self._ready.put(Kernel(km, kc, workdir))

    async def discard(self, kernel: Kernel) -> None:
        await _stop(kernel.km, kernel.kc, kernel.workdir)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        while not self._ready.empty():
            result = self._ready.get_nowait()
            if isinstance(result, Kernel):
                await self.discard(result)


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
