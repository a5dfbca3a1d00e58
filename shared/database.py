"""SQLAlchemy 2 engines and sessions: PostgreSQL (psycopg 3) in production, SQLite when embedded."""
from __future__ import annotations

import contextlib
import os
import time
from typing import Iterator

from sqlalchemy import Engine, create_engine, event, exc, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool


def normalise_url(url: str) -> str:
    """Point ``postgresql://`` URLs at psycopg 3 rather than SQLAlchemy's psycopg2 default."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


PING_AFTER_IDLE_SECONDS = 1.0


def make_engine(url: str, *, pool_size: int = 5, echo: bool = False) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        _ensure_sqlite_dir(url)
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if os.environ.get("DATABASE_POOL", "").lower() == "none":
        # no pool of our own: behind PgBouncer (transaction pooling), or in a test run whose many apps
        # would otherwise each keep idle connections open against one server's max_connections
        return create_engine(url, echo=echo, poolclass=NullPool)
    engine = create_engine(url, echo=echo, pool_size=pool_size, max_overflow=pool_size * 2, pool_recycle=1800)
    _ping_when_idle(engine, PING_AFTER_IDLE_SECONDS)
    return engine


def _ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Pessimistic disconnect handling, as ``pool_pre_ping`` does, but only for a connection that
    sat in the pool for ``idle_seconds`` or more: one returned a moment ago was working a moment
    ago, and a ping per checkout is a database round trip per unit of work. A server that
    restarted (which takes longer than that) is still noticed before any request uses a dead
    connection: every connection pooled before the restart has been idle at least that long."""
    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection, record) -> None:
        record.info["carekey_checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _lent(dbapi_connection, record, _proxy) -> None:
        returned = record.info.get("carekey_checked_in_at")
        if returned is None or time.monotonic() - returned < idle_seconds:
            return  # just connected, or in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # the pool discards it and connects afresh
            raise exc.DisconnectionError(str(error)) from error


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


def single_statements(factory: sessionmaker[Session]) -> sessionmaker[Session]:
    """Sessions on autocommit connections, for units of work that are one statement: a read of
    one row, or one INSERT. The statement is its own transaction, so a read costs one round trip
    instead of three (BEGIN, SELECT, ROLLBACK) and an INSERT is durable when it returns."""
    engine = factory.kw["bind"]
    return sessionmaker(bind=engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False)


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
