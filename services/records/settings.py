"""Records' settings, from ``RECORDS_*`` and the common variables."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from marshmallow import Schema, ValidationError, fields, validate

from shared.settings import (DEFAULT_PORTS, EnvSchema, ServiceSettings, SettingsError, check_secret, env_field,
                             identity_and_audience, load_service_settings, load_settings, url_field)

NAME = "records"
DEFAULT_PORT = DEFAULT_PORTS[NAME]


class FhirSourceSchema(Schema):
    """One practice's FHIR R4 server, as given in ``RECORDS_FHIR_SOURCES``."""

    base_url = fields.Url(required=True, schemes={"http", "https"}, require_tld=False)
    auth = fields.String(load_default="none", validate=validate.OneOf(["none", "bearer", "basic"]))
    token = fields.String(load_default=None)
    username = fields.String(load_default=None)
    password = fields.String(load_default=None)


class RecordsSchema(EnvSchema):
    identity_internal_url = url_field("RECORDS_IDENTITY_INTERNAL_URL", schemes={"http", "https"}, load_default=None)
    identity_issuer = url_field("RECORDS_IDENTITY_ISSUER", schemes={"http", "https"}, load_default=None)
    audience = url_field("RECORDS_AUDIENCE", schemes={"http", "https"}, load_default=None)
    introspect = env_field(fields.Boolean, "RECORDS_INTROSPECT", load_default=False)
    introspect_client_id = env_field(fields.String, "RECORDS_INTROSPECT_CLIENT_ID", load_default=None)
    introspect_client_secret = env_field(fields.String, "RECORDS_INTROSPECT_CLIENT_SECRET", load_default=None)
    jwks_min_refresh = env_field(fields.Integer, "RECORDS_JWKS_REFRESH_SECONDS", load_default=60,
                                 validate=validate.Range(min=1, max=3600))
    token_leeway = env_field(fields.Integer, "RECORDS_TOKEN_LEEWAY", load_default=30,
                             validate=validate.Range(min=0, max=120))
    cache_seconds = env_field(fields.Integer, "RECORDS_CACHE_SECONDS", load_default=30,
                              validate=validate.Range(min=0, max=300))
    page_size = env_field(fields.Integer, "RECORDS_PAGE_SIZE", load_default=20, validate=validate.Range(min=1, max=100))
    fhir_sources = env_field(fields.String, "RECORDS_FHIR_SOURCES", load_default="{}")
    source_timeout = env_field(fields.Float, "RECORDS_SOURCE_TIMEOUT", load_default=5.0,
                               validate=validate.Range(min=0.1, max=60))
    source_retries = env_field(fields.Integer, "RECORDS_SOURCE_RETRIES", load_default=2,
                               validate=validate.Range(min=0, max=5))
    breaker_fail_max = env_field(fields.Integer, "RECORDS_BREAKER_FAIL_MAX", load_default=5,
                                 validate=validate.Range(min=1, max=100))
    breaker_reset_seconds = env_field(fields.Integer, "RECORDS_BREAKER_RESET_SECONDS", load_default=30,
                                      validate=validate.Range(min=1, max=3600))


@dataclass(frozen=True)
class FhirSourceConfig:
    base_url: str
    auth: str = "none"
    token: str | None = None
    username: str | None = None
    password: str | None = None


@dataclass(frozen=True)
class RecordsSettings:
    base: ServiceSettings
    identity_issuer: str
    identity_internal_url: str | None  # where this server reaches identity, when not at the issuer URL
    audience: str
    introspect: bool
    introspect_client_id: str | None
    introspect_client_secret: str | None
    jwks_min_refresh: int
    token_leeway: int
    cache_seconds: int
    page_size: int
    source_timeout: float
    source_retries: int
    breaker_fail_max: int
    breaker_reset_seconds: int
    fhir_sources: dict[str, FhirSourceConfig] = field(default_factory=dict)

    def __getattr__(self, name):  # the shared plumbing reads the base settings
        return getattr(self.base, name)


def load(environ: Mapping[str, str] | None = None) -> RecordsSettings:
    base = load_service_settings(NAME, DEFAULT_PORT, environ)
    values = load_settings(RecordsSchema(), environ)
    values["identity_internal_url"] = (values["identity_internal_url"] or "").rstrip("/") or None
    values.update(identity_and_audience("RECORDS", base, values["identity_issuer"], values["audience"], environ))
    values["fhir_sources"] = _fhir_sources(values["fhir_sources"], env=base.common.env)
    if base.common.env == "prod" and not values["identity_issuer"].startswith("https://"):
        raise SettingsError("RECORDS_IDENTITY_ISSUER: must be https:// in prod")
    if values["introspect"]:
        if not (values["introspect_client_id"] and values["introspect_client_secret"]):
            raise SettingsError("RECORDS_INTROSPECT_CLIENT_ID: required (with its secret) when RECORDS_INTROSPECT=true")
        check_secret("RECORDS_INTROSPECT_CLIENT_SECRET", values["introspect_client_secret"], env=base.common.env)
    return RecordsSettings(base=base, **values)


def _fhir_sources(raw: str, *, env: str) -> dict[str, FhirSourceConfig]:
    """``{"practice-id": {"base_url": ..., "auth": "bearer", "token": ...}, ...}``, checked once."""
    try:
        document: Any = json.loads(raw)
        if not isinstance(document, dict):
            raise ValueError("not an object")
        loaded = {str(practice): FhirSourceSchema().load(spec) for practice, spec in document.items()}
    except (ValueError, ValidationError, TypeError) as exc:
        detail = exc.messages if isinstance(exc, ValidationError) else "must be a JSON object of practices"
        raise SettingsError(f"RECORDS_FHIR_SOURCES: {detail}") from None
    sources = {}
    for practice, spec in loaded.items():
        if spec["auth"] == "bearer" and not spec["token"]:
            raise SettingsError(f"RECORDS_FHIR_SOURCES: {practice} uses bearer auth without a token")
        if spec["auth"] == "basic" and not (spec["username"] and spec["password"]):
            raise SettingsError(f"RECORDS_FHIR_SOURCES: {practice} uses basic auth without username and password")
        if env == "prod" and not spec["base_url"].startswith("https://"):
            raise SettingsError(f"RECORDS_FHIR_SOURCES: {practice} must use https:// in prod")
        sources[practice] = FhirSourceConfig(**{**spec, "base_url": spec["base_url"].rstrip("/")})
    return sources
