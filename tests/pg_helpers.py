"""A PostgreSQL database of its own for one test or benchmark, dropped afterwards."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg


@contextmanager
def scratch_database(host: str = "127.0.0.1", port: int = 5432, prefix: str = "igcb_test") -> Iterator[str]:
    """Create `<prefix>_<random>` (user postgres, trust auth); yield its SQLAlchemy URL; drop it.

    Raises psycopg.Error when the server refuses; the caller says what that means.
    """
    admin = f"host={host} port={port} user=postgres dbname=postgres"
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@{host}:{port}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
            connection.execute(f'DROP DATABASE IF EXISTS "{name}"')


@contextmanager
def store_url(kind: str, folder: Path, prefix: str, host: str = "127.0.0.1",
              port: int = 5432) -> Iterator[str]:
    """A cohort store's URL: a SQLite file in `folder` ("sqlite"), or a new PostgreSQL database
    named after `prefix` ("postgresql") on the server at host:port, dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{Path(folder) / 'cohort.sqlite'}"
        return
    with scratch_database(host, port, prefix=prefix) as url:
        yield url


@contextmanager
def store_for_test(request, kind: str, folder: Path, prefix: str) -> Iterator[str]:
    """store_url for a test: PostgreSQL on the suite's server (the `postgres_server` fixture,
    asked for only when needed)."""
    server = request.getfixturevalue("postgres_server") if kind == "postgresql" else ()
    with store_url(kind, folder, prefix, *server) as url:
        yield url
