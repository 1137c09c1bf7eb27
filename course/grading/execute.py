"""Run one sanitised notebook in a pooled kernel, with nbgrader's Execute and our limits.

A cell that runs past its time limit is interrupted; a kernel that ignores the interrupt,
dies (os._exit, a crash, the memory limit), floods its output or starts too many processes
(the pool stops it) is stopped, and every code cell that did not run gets an error output,
so nbgrader gives it no credit (a test cell with no output would otherwise count as passed).
"""

import asyncio

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Integer

from course.grading.pool import Kernel, Limits


class ContainedExecute(Execute):
    """nbgrader's Execute with a cap on the bytes of output kept."""

    max_output_bytes = Integer(1_000_000)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.output_bytes = 0
        self.capped_cells: list[int] = []
        self.timed_out_cells: list[int] = []
        self.current_index = 0

    def output(self, outs, msg, display_id, cell_index):
        content = msg["content"]
        size = len(content.get("text", "")) + sum(len(str(v)) for v in content.get("data", {}).values())
        self.output_bytes += size
        if self.output_bytes > self.max_output_bytes:
            if cell_index not in self.capped_cells:
                self.capped_cells.append(cell_index)
                outs.append(NotebookNode(output_type="stream", name="stdout",
                                         text=f"\n... output over {self.max_output_bytes} bytes: capped, cell interrupted ...\n"))
                asyncio.ensure_future(self.km.interrupt_kernel())
            return None
        return super().output(outs, msg, display_id, cell_index)

    async def _async_handle_timeout(self, timeout, cell=None):
        self.timed_out_cells.append(self.current_index)
        return await super()._async_handle_timeout(timeout, cell)


def cell_name(nb: NotebookNode, index: int) -> str:
    cell = nb.cells[index] if 0 <= index < len(nb.cells) else None
    grade_id = cell.metadata.get("nbgrader", {}).get("grade_id") if cell is not None else None
    return f"cell {index + 1}" + (f" ({grade_id})" if grade_id else "")


def mark_not_run(nb: NotebookNode, start: int, why: str) -> None:
    """Give every code cell from `start` an error output: it did not run, so it earns nothing."""
    for cell in nb.cells[start:]:
        if cell.cell_type == "code":
            cell.outputs = list(cell.get("outputs", [])) + [NotebookNode(
                output_type="error", ename="NotExecuted", evalue=why,
                traceback=[f"NotExecuted: {why}"])]


async def run_notebook(nb: NotebookNode, kernel: Kernel, limits: Limits, config=None) -> list[str]:
    """Execute nb in kernel (in place); the problems found, as sentences for a tutor."""
    client = ContainedExecute(km=kernel.km, config=config)
    client.nb, client.timeout, client.max_output_bytes = nb, limits.cell_timeout, limits.output_bytes
    client.kc = kernel.kc
    client.reset_execution_trackers()
    problems = []
    index, stopped = 0, None
    notebook_deadline = limits.cell_timeout * (1 + sum(c.cell_type == "code" for c in nb.cells)) + 30
    try:
        async with asyncio.timeout(notebook_deadline):
            for index, cell in enumerate(nb.cells):
                client.current_index = index
                await client.async_execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
    except DeadKernelError:
        code = await kernel.km.provisioner.poll() if kernel.km.provisioner else None
        if kernel.stopped:  # the grader stopped it (pool.watch)
            stopped = f"{cell_name(nb, index)} {kernel.stopped}; the cells after it did not run"
        else:
            stopped = (f"the kernel died in {cell_name(nb, index)} (exit status {code}): "
                       "os._exit, a crash or the memory limit")
    except CellTimeoutError:
        stopped = f"{cell_name(nb, index)} ran past the {limits.cell_timeout} s time limit and ignored the interrupt"
    except TimeoutError:
        stopped = f"the notebook ran past its overall time limit ({notebook_deadline} s) in {cell_name(nb, index)}"
    if stopped:
        problems.append(stopped)
        mark_not_run(nb, index, stopped)
    for i in client.timed_out_cells:
        if stopped is None or i != index:
            problems.append(f"{cell_name(nb, i)} ran past the {limits.cell_timeout} s time limit and was interrupted")
    for i in client.capped_cells:
        problems.append(f"{cell_name(nb, i)} printed over {limits.output_bytes} bytes: output capped")
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error" and out.get("ename") == "MemoryError":
                problems.append(f"{cell_name(nb, i)} reached the memory limit ({limits.memory_mb} MB)")
            elif out.get("output_type") == "error" and out.get("ename") == "SystemExit" or (
                    out.get("output_type") == "stream" and "SystemExit" in out.get("text", "")
                    and "To exit: use 'exit', 'quit', or Ctrl-D." in out.get("text", "")):
                problems.append(f"{cell_name(nb, i)} called sys.exit (the notebook went on)")
    return list(dict.fromkeys(problems))

