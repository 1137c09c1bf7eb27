"""Time a full `igcb book` and a rebuild after one notebook changed.

Run by hand, not in the test suite:  .venv/bin/python bench/book.py [--plan online-course]

Works on a copy of the course in a temporary folder, so the repository is left as it is.
Prints the wall-clock seconds of: a cold build (empty cache), a rebuild with nothing changed,
and a rebuild after appending a cell to one lab notebook.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from course.layout import REPO_ROOT


def timed_build(root: Path, plan: str, out: Path) -> float:
    env = dict(os.environ, IGCB_ROOT=str(root))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "course", "book", "--plan", plan, "--out", str(out)],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", default="online-course")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "course"
        for folder in ("modules", "course/plans", "book", "assessments"):
            if (REPO_ROOT / folder).is_dir():
                shutil.copytree(REPO_ROOT / folder, root / folder,
                                ignore=shutil.ignore_patterns("_build"))
        out = Path(tmp) / "out"
        cold = timed_build(root, args.plan, out)
        unchanged = timed_build(root, args.plan, out)
        lab = sorted(root.glob("modules/*/lab.ipynb"))[0]
        notebook = nbformat.read(lab, as_version=4)
        notebook.cells.append(nbformat.v4.new_code_cell("print('benchmark edit')"))
        nbformat.write(notebook, lab)
        one_changed = timed_build(root, args.plan, out)
        notebooks = len(list((out / "_build/source/modules").rglob("*.ipynb")))
    print(f"plan {args.plan}: {notebooks} notebooks, {os.cpu_count()} CPUs")
    print(f"full build (empty cache):        {cold:6.1f} s")
    print(f"rebuild, nothing changed:        {unchanged:6.1f} s")
    print(f"rebuild, one notebook changed:   {one_changed:6.1f} s  ({lab.parent.name}/{lab.name})")
    print(f"one-notebook rebuild / full build: {one_changed / cold:.2f}")


if __name__ == "__main__":
    main()
