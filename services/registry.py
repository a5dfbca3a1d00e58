"""Finds each service's parts by the shape every service shares (settings, app, models, cli)."""
from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from alembic.config import Config
from flask import Flask
from sqlalchemy import MetaData, Table

from services import SERVICES
from shared.migrations import alembic_config
from shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parent


def _module(service: str, name: str) -> ModuleType:
    if service not in SERVICES:
        raise KeyError(f"unknown service {service!r}; expected one of {', '.join(SERVICES)}")
    return importlib.import_module(f"services.{service}.{name}")


def settings(service: str, environ=None) -> ServiceSettings:
    return _module(service, "settings").load(environ)


def create_app(service: str, service_settings: ServiceSettings | None = None) -> Flask:
    return _module(service, "app").create_app(service_settings)


def metadata(service: str) -> MetaData:
    return _module(service, "db.models").Base.metadata


def outbox(service: str) -> Table | None:
    return getattr(_module(service, "db.models"), "outbox", None)


def migrations(service: str, service_settings: ServiceSettings) -> Config:
    return alembic_config(service, ROOT / service / "migrations", service_settings.database_url)


def cli_group(service: str):
    return _module(service, "cli").group


def work_queues() -> list:
    """Every consumer queue in the suite, so publishers can declare them before the first event."""
    from services.notifications.queues import WORK_QUEUES
    return list(WORK_QUEUES)
