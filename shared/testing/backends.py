"""Which PostgreSQL and broker the tests use.

1. ``DATABASE_URL`` and ``AMQP_URL`` when set (CI always sets both);
2. otherwise testcontainers, when a Docker engine answers;
3. otherwise the embedded backends: SQLite files and the embedded broker (shared.messaging.embedded_transport).

``CAREKEY_TEST_BACKENDS=embedded`` asks for the embedded backends by name (CI runs them too, so a
newcomer's ``make test`` cannot rot unseen); with it, ``DATABASE_URL``/``AMQP_URL`` must be unset.

With PostgreSQL every test worker gets its own database per service, created afresh and migrated
once with Alembic.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from shared.database import normalise_url


@dataclass
class Backends:
    kind: str  # "urls", "testcontainers" or "embedded"
    database_url: str | None  # an admin URL for PostgreSQL, None when embedded
    amqp_url: str
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, repr=False)

    @property
    def real(self) -> bool:
        return self.kind != "embedded"

    def service_database(self, service: str, worker: str, tmp: Path) -> str:
        """A fresh, empty database for *service* on this test worker."""
        if self.database_url is None:
            path = tmp / f"{service}-{worker}.sqlite"
            path.unlink(missing_ok=True)
            return f"sqlite:///{path}"
        admin_url = make_url(normalise_url(self.database_url))
        # CAREKEY_TEST_DB_PREFIX lets two test runs share one PostgreSQL without sharing databases.
        run = os.environ.get("CAREKEY_TEST_DB_PREFIX", "")
        name = f"carekey_test_{run}{worker}_{service}"
        engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            engine.dispose()
        return admin_url.set(database=name).render_as_string(hide_password=False)

    def close(self) -> None:
        self._stack.close()


def _require_reachable(database_url: str, amqp_url: str) -> None:
    """With URLs given, an unreachable backend is an error, never a reason to fall back."""
    from shared.database import make_engine, ping as ping_database
    from shared.messaging.broker import ping as ping_broker
    engine = make_engine(database_url)
    try:
        ping_database(engine)
    except Exception as exc:
        raise RuntimeError(f"DATABASE_URL is set but unreachable: {type(exc).__name__}") from None
    finally:
        engine.dispose()
    try:
        ping_broker(amqp_url)
    except Exception as exc:
        raise RuntimeError(f"AMQP_URL is set but unreachable: {type(exc).__name__}") from None


def _docker_answers() -> bool:
    try:
        import docker
        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


def select_backends(tmp: Path) -> Backends:
    embedded = Backends("embedded", None, f"sqlalchemy+sqlite:///{tmp / 'broker.sqlite'}")
    if os.environ.get("CAREKEY_TEST_BACKENDS") == "embedded":  # asked for by name (CI's second pass)
        if os.environ.get("DATABASE_URL") or os.environ.get("AMQP_URL"):
            raise RuntimeError("CAREKEY_TEST_BACKENDS=embedded: unset DATABASE_URL and AMQP_URL")
        return embedded
    database_url, amqp_url = os.environ.get("DATABASE_URL"), os.environ.get("AMQP_URL")
    if database_url or amqp_url:
        if not (database_url and amqp_url):
            raise RuntimeError("set both DATABASE_URL and AMQP_URL, or neither")
        _require_reachable(database_url, amqp_url)
        return Backends("urls", database_url, amqp_url)
    if os.environ.get("CI"):
        raise RuntimeError("CI must run on real backends: set DATABASE_URL and AMQP_URL")
    if _docker_answers():
        return _containers()
    return embedded


def _containers() -> Backends:
    from testcontainers.postgres import PostgresContainer
    from testcontainers.rabbitmq import RabbitMqContainer
    stack = contextlib.ExitStack()
    postgres = stack.enter_context(PostgresContainer("postgres:16-alpine", driver="psycopg"))
    rabbit = stack.enter_context(RabbitMqContainer("rabbitmq:3.13-alpine"))
    amqp_url = (f"amqp://guest:guest@{rabbit.get_container_host_ip()}:"
                f"{rabbit.get_exposed_port(rabbit.port)}//")
    return Backends("testcontainers", postgres.get_connection_url(), amqp_url, stack)


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Temporarily set environment variables (for code that reads settings itself)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
