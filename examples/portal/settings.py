"""The portal's settings, read from the environment once, at start-up, and checked.

Outside dev (``CAREKEY_ENV`` is ``dev`` by default, as for the services) a missing client secret or
cookie key, or a plain-http address anywhere but loopback, stops the portal with a message naming
the variable.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from typing import Mapping
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

DEV_PLACEHOLDER_KEY = "change-me-portal-cookie-key-for-dev-only-0000"
# Every variable the portal reads (deploy/ and docker-compose.yml are checked against this list).
VARIABLES = ("CAREKEY_ENV", "PORTAL_PRACTICE_ID", "PORTAL_NAME", "PORTAL_CLIENT_ID", "PORTAL_CLIENT_SECRET",
             "PORTAL_ISSUER", "PORTAL_ISSUER_INTERNAL_URL", "PORTAL_RECORDS_URL", "PORTAL_REGISTRATION_URL",
             "PORTAL_PUBLIC_URL", "PORTAL_HOST", "PORT", "PORTAL_SECRET_KEY", "PORTAL_DATABASE_URL",
             "PORTAL_PRACTICE_NAMES", "PORTAL_ACCENT")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class SettingsError(RuntimeError):
    """A missing, malformed or insecure setting; the message names the variable."""


@dataclass(frozen=True)
class PortalSettings:
    practice_id: str
    name: str
    client_id: str
    client_secret: str
    issuer: str
    records_url: str
    registration_url: str
    public_url: str
    host: str
    port: int
    secret_key: str
    database_url: str
    env: str = "dev"
    practice_names: dict[str, str] = field(default_factory=dict)
    accent: str = "#0b5e4a"
    issuer_internal_url: str | None = None   # where the portal's server reaches the issuer, if not at its own URL
    session_hours: int = 12

    @property
    def is_dev(self) -> bool:
        return self.env in ("dev", "test")

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")

    def practice_name(self, practice_id: str) -> str:
        if practice_id == self.practice_id:
            return self.name
        return self.practice_names.get(practice_id) or practice_id.replace("-", " ").title()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "PortalSettings":
        env = os.environ if environ is None else environ
        stage = env.get("CAREKEY_ENV", "dev")
        if stage not in ("dev", "test", "prod"):
            raise SettingsError("CAREKEY_ENV must be dev, test or prod")
        practice_id = _required(env, "PORTAL_PRACTICE_ID")
        port = _port(env.get("PORT", "8101"))
        host = env.get("PORTAL_HOST", "127.0.0.1")
        public_url = env.get("PORTAL_PUBLIC_URL", f"http://127.0.0.1:{port}").rstrip("/")
        settings = cls(
            practice_id=practice_id,
            name=env.get("PORTAL_NAME") or practice_id.replace("-", " ").title(),
            client_id=_required(env, "PORTAL_CLIENT_ID"),
            client_secret=_required(env, "PORTAL_CLIENT_SECRET"),
            issuer=_url(env, "PORTAL_ISSUER", "http://127.0.0.1:8001", stage),
            records_url=_url(env, "PORTAL_RECORDS_URL", "http://127.0.0.1:8004", stage),
            registration_url=_url(env, "PORTAL_REGISTRATION_URL", "http://127.0.0.1:8002", stage),
            public_url=_checked_url("PORTAL_PUBLIC_URL", public_url, stage),
            host=host, port=port,
            secret_key=_secret_key(env, stage),
            database_url=env.get("PORTAL_DATABASE_URL") or _default_database(practice_id),
            env=stage,
            practice_names=_practice_names(env.get("PORTAL_PRACTICE_NAMES", "")),
            accent=_accent(env.get("PORTAL_ACCENT", "#0b5e4a")),
            issuer_internal_url=(_checked_url("PORTAL_ISSUER_INTERNAL_URL", env["PORTAL_ISSUER_INTERNAL_URL"].rstrip("/"),
                                              "dev") if env.get("PORTAL_ISSUER_INTERNAL_URL") else None),
        )
        return settings


def _required(env: Mapping[str, str], name: str) -> str:
    value = (env.get(name) or "").strip()
    if not value:
        raise SettingsError(f"{name} is required")
    return value


def _port(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise SettingsError("PORT must be a port number")
    return int(value)


def _url(env: Mapping[str, str], name: str, default: str, stage: str) -> str:
    return _checked_url(name, (env.get(name) or default).rstrip("/"), stage)


def _checked_url(name: str, value: str, stage: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"{name} must be an http(s) URL")
    if stage == "prod" and parts.scheme != "https" and parts.hostname not in LOOPBACK:
        raise SettingsError(f"{name} must use https outside dev")
    return value


def _secret_key(env: Mapping[str, str], stage: str) -> str:
    value = env.get("PORTAL_SECRET_KEY", "")
    if value:
        if len(value) < 32:
            raise SettingsError("PORTAL_SECRET_KEY must be at least 32 characters")
        return value
    if stage == "prod":
        raise SettingsError("PORTAL_SECRET_KEY is required outside dev (at least 32 random characters)")
    log.warning("PORTAL_SECRET_KEY is not set: using a placeholder cookie key (dev only)")
    return DEV_PLACEHOLDER_KEY


def _default_database(practice_id: str) -> str:
    os.makedirs(os.path.join("var", "portals"), exist_ok=True)
    return f"sqlite:///{os.path.abspath(os.path.join('var', 'portals', practice_id + '.sqlite'))}"


def _practice_names(raw: str) -> dict[str, str]:
    """``{"riverside": "Riverside Family Practice", ...}``: how other practices' records are labelled."""
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        raise SettingsError("PORTAL_PRACTICE_NAMES must be a JSON object of practice id to name") from None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise SettingsError("PORTAL_PRACTICE_NAMES must be a JSON object of practice id to name")
    return value


def _accent(value: str) -> str:
    """The practice's colour (``#rrggbb``), dark enough for white text (WCAG AA, 4.5:1)."""
    value = value.strip()
    if len(value) != 7 or value[0] != "#" or any(ch not in "0123456789abcdefABCDEF" for ch in value[1:]):
        raise SettingsError("PORTAL_ACCENT must be a colour such as #0b5e4a")
    if contrast_with_white(value) < 4.5:
        raise SettingsError("PORTAL_ACCENT is too light: white text on it must have a contrast of at least 4.5:1")
    return value.lower()


def contrast_with_white(colour: str) -> float:
    def channel(hex_pair: str) -> float:
        c = int(hex_pair, 16) / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(colour[i:i + 2]) for i in (1, 3, 5))
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return 1.05 / (luminance + 0.05)
