"""Typed settings read from the environment and validated once, at start-up.

Each service declares a marshmallow schema whose fields carry the environment variable name as
``data_key``; :func:`load_settings` reads the environment, validates every field, applies the
dev defaults and refuses insecure values outside dev, naming the variable that is wrong.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Mapping

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

log = logging.getLogger(__name__)

ENVIRONMENTS = ("dev", "test", "prod")
PLACEHOLDER_MARK = "change-me"
MIN_SECRET_LENGTH = 32


class SettingsError(RuntimeError):
    """Raised when the environment holds a missing, malformed or insecure setting."""


class EnvSchema(Schema):
    """Base schema for a service's settings: unknown variables are ignored."""

    class Meta:
        unknown = EXCLUDE


def env_field(kind: type[fields.Field], name: str, *, dev_default: Any = None, **kwargs) -> fields.Field:
    """A settings field read from the environment variable *name*.

    ``dev_default`` is used only in the dev and test environments; outside them a field with a
    dev default and no ``load_default`` is required.
    """
    if dev_default is not None and "load_default" not in kwargs:
        kwargs["required"] = True
    field = kind(data_key=name, metadata={"dev_default": dev_default}, **kwargs)
    return field


class JsonObject(fields.Dict):
    """A JSON object given as one environment variable, e.g. '{"practice-a": "seed-001"}'."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            import json
            try:
                value = json.loads(value)
            except ValueError:
                raise ValidationError("must be a JSON object") from None
        return super()._deserialize(value, attr, data, **kwargs)


def url_field(name: str, *, schemes: set[str], dev_default: str | None = None, **kwargs) -> fields.Field:
    return env_field(fields.String, name, dev_default=dev_default,
                     validate=_scheme_validator(name, schemes), **kwargs)


def _scheme_validator(name: str, schemes: set[str]):
    def check(value: str) -> None:
        scheme = value.split(":", 1)[0].lower()
        if "://" not in value and not value.startswith("sqlite:"):
            raise ValidationError(f"{name} must be a URL")
        if scheme not in schemes:
            raise ValidationError(f"{name} must use one of: {', '.join(sorted(schemes))}")
    return check


@dataclass(frozen=True)
class Common:
    """Settings every process shares."""

    env: str
    amqp_url: str
    log_level: str
    log_json: bool

    @property
    def is_dev(self) -> bool:
        return self.env in ("dev", "test")


class CommonSchema(EnvSchema):
    env = env_field(fields.String, "CAREKEY_ENV", load_default="dev", validate=validate.OneOf(ENVIRONMENTS))
    amqp_url = url_field("AMQP_URL", schemes={"amqp", "amqps", "pyamqp", "sqlalchemy+sqlite", "memory"},
                         dev_default="sqlalchemy+sqlite:///var/broker.sqlite")
    log_level = env_field(fields.String, "LOG_LEVEL", load_default="INFO",
                          validate=validate.OneOf(["DEBUG", "INFO", "WARNING", "ERROR"]))
    log_json = env_field(fields.Boolean, "LOG_JSON", load_default=True)


def load_settings(schema: Schema, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Validate *environ* (default ``os.environ``) against *schema*; returns the typed values.

    A field with a ``dev_default`` is required outside dev. Raises :class:`SettingsError`
    naming every variable that is missing or wrong.
    """
    environ = os.environ if environ is None else environ
    dev = environ.get("CAREKEY_ENV", "dev") in ("dev", "test")
    data: dict[str, Any] = {}
    for field in schema.fields.values():
        key = field.data_key
        if environ.get(key, "") != "":
            data[key] = environ[key]
        elif dev and field.metadata.get("dev_default") is not None:
            data[key] = field.metadata["dev_default"]
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise SettingsError(_describe(exc.messages)) from None


def _describe(messages: Mapping[str, Any]) -> str:
    parts = []
    for key, errors in sorted(messages.items()):
        text = errors if isinstance(errors, str) else " ".join(str(e) for e in errors)
        parts.append(f"{key}: {text}")
    return "invalid settings: " + "; ".join(parts)


_warned: set[str] = set()
# Set by `carekey run` after it has announced the placeholders once for all its processes.
PLACEHOLDERS_ANNOUNCED = "CAREKEY_PLACEHOLDERS_ANNOUNCED"


def check_secret(name: str, value: str, *, env: str) -> None:
    """Refuse a short or placeholder secret outside dev; warn loudly about a placeholder in dev."""
    weak = PLACEHOLDER_MARK in value or len(value) < MIN_SECRET_LENGTH
    if weak and env not in ("dev", "test"):
        raise SettingsError(f"{name}: insecure value (use at least {MIN_SECRET_LENGTH} random characters)")
    if PLACEHOLDER_MARK in value and name not in _warned and not os.environ.get(PLACEHOLDERS_ANNOUNCED):
        _warned.add(name)
        log.warning("%s is a placeholder: fine for dev, never for production", name)


def check_not_sqlite(name: str, url: str, *, env: str) -> None:
    if env == "prod" and url.startswith("sqlite"):
        raise SettingsError(f"{name}: SQLite is for the embedded default only; use PostgreSQL in prod")


def load_common(environ: Mapping[str, str] | None = None) -> Common:
    values = load_settings(CommonSchema(), environ)
    common = Common(**values)
    if common.env == "prod" and not common.amqp_url.startswith(("amqp", "pyamqp")):
        raise SettingsError("AMQP_URL: use RabbitMQ (amqp:// or amqps://) in prod")
    return common


@dataclass(frozen=True)
class OutboxPurge:
    """How long the relay keeps published outbox rows, and how often it deletes the older ones."""

    retention_seconds: int
    interval_seconds: int  # 0: never

    @property
    def enabled(self) -> bool:
        return self.interval_seconds > 0


class OutboxPurgeSchema(EnvSchema):
    retention_seconds = env_field(fields.Integer, "OUTBOX_RETENTION_SECONDS", load_default=86400,
                                  validate=validate.Range(min=0))
    interval_seconds = env_field(fields.Integer, "OUTBOX_PURGE_INTERVAL_SECONDS", load_default=600,
                                 validate=validate.Range(min=0))


def load_outbox_purge(environ: Mapping[str, str] | None = None) -> OutboxPurge:
    return OutboxPurge(**load_settings(OutboxPurgeSchema(), environ))


@dataclass(frozen=True)
class ServiceSettings:
    """What every service needs: its database, its secret, where it listens and is reached."""

    service: str
    common: Common
    database_url: str
    secret_key: str
    host: str
    port: int
    public_url: str
    trusted_proxies: int


def stated_url(service: str, environ: Mapping[str, str] | None = None) -> str | None:
    """Where *service* is reached, as far as *environ* says: its ``<SERVICE>_PUBLIC_URL``, else
    ``http://<SERVICE>_HOST:<SERVICE>_PORT`` when either of those is set; None when it says nothing.

    Another service's URL (an issuer, an audience, a callback) is derived from this, so moving a
    service's port (``IDENTITY_PORT=9001 make run``) moves every URL that points at it."""
    environ = os.environ if environ is None else environ
    prefix = service.upper()
    if environ.get(f"{prefix}_PUBLIC_URL"):
        return environ[f"{prefix}_PUBLIC_URL"].rstrip("/")
    host, port = environ.get(f"{prefix}_HOST"), environ.get(f"{prefix}_PORT")
    if host or port:
        return f"http://{host or '127.0.0.1'}:{port or DEFAULT_PORTS[service]}"
    return None


def local_url(service: str) -> str:
    """Where *service* listens by default on this machine (dev and test)."""
    return f"http://127.0.0.1:{DEFAULT_PORTS[service]}"


def agreed(name: str, value: str | None, *counterparts: tuple[str, str | None], default: str | None = None) -> str | None:
    """Setting *name*: its own *value*, else the first counterpart the environment states, else *default*.

    Counterparts are ``(what, url)`` pairs, ``url`` None when the environment does not state it: settings
    that must name the same URL (an issuer, an audience). When two of them contradict each other the
    service stops at start-up naming both, rather than failing every request later with a bare 401."""
    known = [(what, url.rstrip("/")) for what, url in counterparts if url]
    value = value.rstrip("/") if value else (known[0][1] if known else default)
    for what, url in known:
        if value != url:
            raise SettingsError(f"{name}: {value} contradicts {what} ({url}); they must name the same URL")
    return value


def identity_and_audience(prefix: str, base: ServiceSettings, issuer: str | None, audience: str | None,
                          environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """A resource server's view of identity: ``<PREFIX>_IDENTITY_ISSUER`` (default: identity's URL, so it
    follows ``IDENTITY_PORT``) and ``<PREFIX>_AUDIENCE`` (default: this service's public URL), which must
    be what identity puts in the tokens it mints for it (``IDENTITY_<PREFIX>_AUDIENCE``)."""
    env = os.environ if environ is None else environ
    issuer = agreed(f"{prefix}_IDENTITY_ISSUER", issuer, ("identity's URL", stated_url("identity", env)),
                    default=local_url("identity") if base.common.is_dev else None)
    if issuer is None:
        raise SettingsError(f"{prefix}_IDENTITY_ISSUER: required outside dev (or IDENTITY_PUBLIC_URL)")
    minted = f"IDENTITY_{prefix}_AUDIENCE"
    audience = agreed(f"{prefix}_AUDIENCE", audience or base.public_url, (minted, env.get(minted)))
    return {"identity_issuer": issuer, "audience": audience}


# The suite's services and where each listens by default (services/__init__.py starts them in this order).
DEFAULT_PORTS = {"identity": 8001, "registration": 8002, "notifications": 8003, "records": 8004}


def service_schema(prefix: str, default_port: int, service: str) -> Schema:
    fields_ = {
        "database_url": url_field(f"{prefix}_DATABASE_URL", schemes={"postgresql", "postgres", "postgresql+psycopg", "sqlite"},
                                  dev_default=f"sqlite:///var/{service}.sqlite"),
        "secret_key": env_field(fields.String, f"{prefix}_SECRET_KEY",
                                dev_default=f"dev-{service}-secret-{PLACEHOLDER_MARK}-not-for-production",
                                validate=validate.Length(min=16)),
        "host": env_field(fields.String, f"{prefix}_HOST", load_default="127.0.0.1"),
        "port": env_field(fields.Integer, f"{prefix}_PORT", load_default=default_port,
                          validate=validate.Range(min=1, max=65535)),
        "public_url": url_field(f"{prefix}_PUBLIC_URL", schemes={"http", "https"}, load_default=None),
        "trusted_proxies": env_field(fields.Integer, "TRUSTED_PROXIES", load_default=0,
                                     validate=validate.Range(min=0, max=5)),
    }
    return EnvSchema.from_dict(fields_, name=f"{prefix.title()}Settings")()


def load_service_settings(service: str, default_port: int,
                          environ: Mapping[str, str] | None = None) -> ServiceSettings:
    """Load and check a service's settings; raises :class:`SettingsError` naming the variable."""
    prefix = service.upper()
    common = load_common(environ)
    values = load_settings(service_schema(prefix, default_port, service), environ)
    if not values.get("public_url"):
        if not common.is_dev:
            raise SettingsError(f"{prefix}_PUBLIC_URL: required outside dev")
        values["public_url"] = f"http://{values['host']}:{values['port']}"
    values["public_url"] = values["public_url"].rstrip("/")
    if common.env == "prod" and not values["public_url"].startswith("https://"):
        raise SettingsError(f"{prefix}_PUBLIC_URL: must be https:// in prod")
    check_secret(f"{prefix}_SECRET_KEY", values["secret_key"], env=common.env)
    check_not_sqlite(f"{prefix}_DATABASE_URL", values["database_url"], env=common.env)
    return ServiceSettings(service=service, common=common, **values)
