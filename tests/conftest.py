"""Suite-wide fixtures: real backends when configured, a migrated database per service and worker."""
from __future__ import annotations

import os
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from services import SERVICES, registry
from shared.database import make_engine
from shared.migrations import upgrade
from shared.settings import ServiceSettings
from shared.testing.backends import Backends, select_backends

# Many apps are built in one test run (and the browser suite starts every service as processes):
# without pools of their own they hold no idle connections against the server's max_connections.
os.environ.setdefault("DATABASE_POOL", "none")


@pytest.fixture(scope="session")
def backends(tmp_path_factory) -> Backends:
    selected = select_backends(tmp_path_factory.mktemp("backends"))
    yield selected
    selected.close()


@pytest.fixture(scope="session")
def worker_id_safe() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main").replace("-", "_")


def settings_environ(backends: Backends, service: str, database_url: str) -> dict[str, str]:
    prefix = service.upper()
    return {"CAREKEY_ENV": "test", "AMQP_URL": backends.amqp_url, f"{prefix}_DATABASE_URL": database_url,
            "LOG_JSON": "true"}


@dataclass
class Suite:
    backends: Backends
    settings: dict[str, ServiceSettings]
    engines: dict[str, Engine]

    def environ(self, service: str) -> dict[str, str]:
        return settings_environ(self.backends, service, self.settings[service].database_url)


@pytest.fixture(scope="session")
def suite(backends, worker_id_safe, tmp_path_factory) -> Suite:
    """Every service's database, created for this worker and migrated once with Alembic."""
    tmp = tmp_path_factory.mktemp("databases")
    settings, engines = {}, {}
    for service in SERVICES:
        url = backends.service_database(service, worker_id_safe, tmp)
        settings[service] = registry.settings(service, settings_environ(backends, service, url))
        upgrade(registry.migrations(service, settings[service]))
        engines[service] = make_engine(url)
    yield Suite(backends, settings, engines)
    for engine in engines.values():
        engine.dispose()


@pytest.fixture
def rollback_session(suite):
    """A session for one service whose work is rolled back at the end of the test."""
    opened = []

    def open_session(service: str) -> Session:
        connection = suite.engines[service].connect()
        transaction = connection.begin()
        session = Session(bind=connection, join_transaction_mode="create_savepoint")
        opened.append((session, transaction, connection))
        return session

    yield open_session
    for session, transaction, connection in opened:
        session.close()
        transaction.rollback()
        connection.close()


@pytest.fixture(params=["rabbitmq", "embedded"])
def each_broker(request, backends, tmp_path) -> str:
    """The test runs twice: on RabbitMQ (when this run has it) and on the embedded broker of ``make run``,
    a SQLite file of its own, so the embedded broker's promises are checked in every run, CI's included."""
    if request.param == "embedded":
        return f"sqlalchemy+sqlite:///{tmp_path / 'broker.sqlite'}"
    if not backends.real:
        pytest.skip("no RabbitMQ in this run: the embedded variant covers it")
    return backends.amqp_url


@pytest.fixture
def real_broker(backends) -> str:
    """The AMQP URL of a real RabbitMQ; embedded runs have none to cut or confirm."""
    if not backends.real:
        pytest.skip("needs RabbitMQ: set AMQP_URL (CI always does)")
    return backends.amqp_url
