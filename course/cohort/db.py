"""Opening a cohort store: the database URL, the engine, migrations, sessions, the audit log.

>>> store = open_store("sqlite:///:memory:")
>>> with store.session() as s:
...     audit(s, "coord", "example", "nothing")
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from course.cohort.models import AuditEntry, Base

MIGRATIONS = Path(__file__).with_name("migrations")
DB_FILE = "cohort.sqlite"
ENV_URL = "IGCB_DB_URL"


class StoreError(Exception):
    """The store cannot be opened or the change is not allowed; the message says why."""


def sqlite_url(state: Path) -> str:
    return f"sqlite:///{Path(state).resolve() / DB_FILE}"


def resolve_url(db: str | None, state: Path | None, default_state: Path) -> str:
    """The store's URL: --db, else $IGCB_DB_URL, else the SQLite file in the state folder."""
    if db:
        return db
    if os.environ.get(ENV_URL):
        return os.environ[ENV_URL]
    return sqlite_url(state or default_state)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the room read while it writes; synchronous=FULL makes each commit durable
    # on disk before the room answers, even across a power cut.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"{url!r} is not a database URL (e.g. sqlite:///path/cohort.sqlite "
                         "or postgresql+psycopg://user@host/db)") from None
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:"):
            engine = create_engine(parsed, poolclass=StaticPool,
                                   connect_args={"check_same_thread": False})
        else:
            folder = Path(database).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise StoreError(f"{folder}: cannot create the state folder: {err.strerror}") from None
            engine = create_engine(parsed, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(parsed, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the database to the newest schema (creating it when empty)."""
    command.upgrade(_alembic_config(engine), "head")


def schema_is_current(engine: Engine) -> bool:
    head = ScriptDirectory.from_config(_alembic_config(engine)).get_current_head()
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision() == head


class Store:
    """A cohort database: `session()` gives a transaction committed on success."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        with self._sessions() as session:
            with session.begin():
                yield session

    def close(self) -> None:
        self.engine.dispose()


def open_store(url: str, create: bool = True) -> Store:
    """Open (and migrate) the store at `url`; `create=False` refuses a store never initialised."""
    if not create and (missing := _missing_sqlite_file(url)) is not None:
        raise StoreError(f"no cohort store at {missing}: run `igcb cohort init` first")
    engine = make_engine(url)
    try:
        if not create and "settings" not in inspect(engine).get_table_names():
            engine.dispose()
            raise StoreError(f"no cohort store at {_shown(url)}: run `igcb cohort init` first")
        migrate(engine)
    except OperationalError as err:
        engine.dispose()
        raise StoreError(f"cannot open the cohort store at {_shown(url)}: {err.orig}") from None
    return Store(engine)


def _missing_sqlite_file(url: str) -> Path | None:
    """The SQLite file of `url` when it does not exist (opening it would create it)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    return None if Path(database).exists() else Path(database)


def _shown(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def audit(session: Session, actor: str, action: str, target: str = "", **detail) -> None:
    """Record who did what (in the same transaction as the change itself)."""
    session.add(AuditEntry(actor=actor, action=action, target=target, detail=detail))


__all__ = ["Base", "Store", "StoreError", "audit", "open_store", "resolve_url", "sqlite_url"]
