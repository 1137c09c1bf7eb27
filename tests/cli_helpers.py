"""Running `igcb` in the test's own process (the result, or its output when it must succeed or
be refused: exit 2, one message, no traceback), and reading the store it wrote."""

from click.testing import CliRunner

from course.cli import main
from course.cohort.db import open_store


def igcb(*args):
    """`igcb ARGS` with no store taken from the environment."""
    return CliRunner().invoke(main, [str(a) for a in args], env={"IGCB_DB_URL": None},
                              catch_exceptions=False)


def ok(*args) -> str:
    result = igcb(*args)
    assert result.exit_code == 0, result.output
    return result.output


def refused(*args) -> str:
    result = igcb(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return result.stderr


def in_store(url, work):
    """`work(session)` in one transaction of the existing store at `url`."""
    store = open_store(url, create=False)
    try:
        with store.session() as session:
            return work(session)
    finally:
        store.close()
