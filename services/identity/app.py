"""Identity's app factory: the only wiring point."""
from __future__ import annotations

from flask import Flask

from services.identity import settings as identity_settings
from shared.logging import configure_logging
from shared.settings import ServiceSettings
from shared.web import create_service_app


def create_app(settings: ServiceSettings | None = None) -> Flask:
    if settings is None:
        settings = identity_settings.load()
        configure_logging(settings.service, level=settings.common.log_level, json=settings.common.log_json)
    return create_service_app(settings, __name__)
