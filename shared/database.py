"""SQLAlchemy 2 engines and sessions: PostgreSQL (psycopg 3) in production, SQLite when embedded."""
from __future__ import annotations

import contextlib
import os
from typing import Iterator

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker


def normalise_url(url: str) -> str:
    """Point ``postgresql://`` URLs at psycopg 3 rather than SQLAlchemy's psycopg2 default."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def make_engine(url: str, *, pool_size: int = 5, echo: bool = False) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        _ensure_sqlite_dir(url)
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, echo=echo, pool_size=pool_size, max_overflow=pool_size * 2,
                         pool_pre_ping=True, pool_recycle=1800)


def _ensure_sqlite_dir(url: str) -> None:
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # Several local processes share each file in the embedded default: WAL lets readers run
    # beside one writer, and the busy timeout queues writers instead of failing them.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextlib.contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commits on success, rolls back on any error."""
    with factory() as session, session.begin():
        yield session


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"
