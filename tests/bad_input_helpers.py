"""What the bad-input tests share: running igcb in a folder (a crash fails the test), a digest of
the folder's files, and careless or hostile mutations of the shipped example CSVs."""

from __future__ import annotations

import csv
import hashlib
import io
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import strategies as st

from conftest import REPO_ROOT
from course.cli import main

EXAMPLES = REPO_ROOT / "peer_review" / "examples"


def igcb(folder: Path, *args: str, env: dict | None = None):
    """Run igcb in `folder`; a crash (any exception but SystemExit) fails the test."""
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=True)
    finally:
        os.chdir(cwd)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback
        trace = "".join(traceback.format_exception(*result.exc_info))
        pytest.fail(f"igcb {' '.join(args)} crashed:\n{trace}\n{result.output}")
    return result


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())
            if p.is_file()}


HOSTILE = ["", " ", "nan", "inf", "-inf", "-5", "1e309", "²", "٣", "=1+1", "@x", "\ufeff",
           "x" * 3000, "0", "3.5", "NULL", "\"", ",", "\n", "\x00", "ü", "en;;fr", "Ω;en"]


@st.composite
def mutated_csv(draw, name: str) -> bytes:
    """One of the shipped example CSVs with a few careless or hostile edits."""
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    for _ in range(draw(st.integers(1, 4))):
        if not rows:
            break
        # mostly careless cells, sometimes a broken structure (which fails early, and is easy)
        kind = draw(st.sampled_from(["cell"] * 8 + ["drop-row", "drop-column", "dup-row",
                                                    "truncate", "header"]))
        r = draw(st.integers(min(1, len(rows) - 1), len(rows) - 1))
        if kind == "cell" and rows[r]:
            c = draw(st.integers(0, len(rows[r]) - 1))
            rows[r][c] = draw(st.sampled_from(HOSTILE) | st.text(max_size=12))
        elif kind == "drop-row" and len(rows) > 1:
            rows.pop(r)
        elif kind == "drop-column" and rows and rows[0]:
            c = draw(st.integers(0, len(rows[0]) - 1))
            rows = [row[:c] + row[c + 1:] for row in rows]
        elif kind == "dup-row":
            rows.insert(r, list(rows[r]))
        elif kind == "truncate":
            rows = rows[:r]
        elif kind == "header" and rows and rows[0]:
            rows[0][draw(st.integers(0, len(rows[0]) - 1))] = draw(st.sampled_from(HOSTILE))
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    data = out.getvalue().encode("utf-8", errors="surrogatepass")
    return (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + data
