"""Registration's settings, from ``REGISTRATION_*`` and the common variables."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from marshmallow import fields, validate

from shared.settings import (DEFAULT_PORTS, EnvSchema, ServiceSettings, SettingsError, check_secret, env_field,
                             identity_and_audience, load_service_settings, load_settings, url_field)

NAME = "registration"
DEFAULT_PORT = DEFAULT_PORTS[NAME]
DEV_CLIENT_ID = "carekey-registration"
DEV_CLIENT_SECRET = "dev-registration-client-secret-change-me"


class RegistrationSchema(EnvSchema):
    identity_issuer = url_field("REGISTRATION_IDENTITY_ISSUER", schemes={"http", "https"}, load_default=None)
    identity_internal_url = url_field("REGISTRATION_IDENTITY_INTERNAL_URL", schemes={"http", "https"},
                                      load_default=None)
    client_id = env_field(fields.String, "REGISTRATION_CLIENT_ID", dev_default=DEV_CLIENT_ID)
    client_secret = env_field(fields.String, "REGISTRATION_CLIENT_SECRET", dev_default=DEV_CLIENT_SECRET)
    terms_version = env_field(fields.String, "REGISTRATION_TERMS_VERSION", load_default="2026-11",
                              validate=validate.Length(min=1, max=32))
    privacy_version = env_field(fields.String, "REGISTRATION_PRIVACY_VERSION", load_default="2026-11",
                                validate=validate.Length(min=1, max=32))
    audience = url_field("REGISTRATION_AUDIENCE", schemes={"http", "https"}, load_default=None)
    identity_timeout = env_field(fields.Float, "REGISTRATION_IDENTITY_TIMEOUT", load_default=5.0,
                                 validate=validate.Range(min=0.1, max=60))


@dataclass(frozen=True)
class RegistrationSettings:
    base: ServiceSettings
    identity_issuer: str
    identity_internal_url: str | None  # where this server reaches identity (a container network), if not the issuer
    client_id: str
    client_secret: str
    terms_version: str
    privacy_version: str
    identity_timeout: float
    audience: str  # operator tokens must name it (identity's IDENTITY_REGISTRATION_AUDIENCE); default public URL

    def __getattr__(self, name):  # the shared plumbing reads the base settings
        return getattr(self.base, name)

    @property
    def identity_reach(self) -> str:
        """Identity as this server reaches it (the browser is always sent to the issuer itself)."""
        return self.identity_internal_url or self.identity_issuer


def load(environ: Mapping[str, str] | None = None) -> RegistrationSettings:
    base = load_service_settings(NAME, DEFAULT_PORT, environ)
    values = load_settings(RegistrationSchema(), environ)
    values["identity_internal_url"] = (values["identity_internal_url"] or "").rstrip("/") or None
    values.update(identity_and_audience("REGISTRATION", base, values["identity_issuer"], values["audience"],
                                        environ))
    if not (values["client_id"] and values["client_secret"]):
        raise SettingsError("REGISTRATION_CLIENT_ID: required, with REGISTRATION_CLIENT_SECRET")
    check_secret("REGISTRATION_CLIENT_SECRET", values["client_secret"], env=base.common.env)
    if base.common.env == "prod" and not values["identity_issuer"].startswith("https://"):
        raise SettingsError("REGISTRATION_IDENTITY_ISSUER: must be https:// in prod")
    return RegistrationSettings(base=base, **values)
