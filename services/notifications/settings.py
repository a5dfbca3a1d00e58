"""Notifications's settings, from ``IDENTITY_*`` and the common variables."""
from __future__ import annotations

from typing import Mapping

from shared.settings import ServiceSettings, load_service_settings

NAME = "notifications"
DEFAULT_PORT = 8003


def load(environ: Mapping[str, str] | None = None) -> ServiceSettings:
    return load_service_settings(NAME, DEFAULT_PORT, environ)
