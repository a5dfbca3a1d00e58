"""Notifications' settings, from ``NOTIFICATIONS_*``, ``SMTP_*``, ``TWILIO_*`` and the common variables."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from marshmallow import fields, validate

from shared.settings import (DEFAULT_PORTS, EnvSchema, ServiceSettings, SettingsError, env_field, load_service_settings,
                             load_settings)

NAME = "notifications"
DEFAULT_PORT = DEFAULT_PORTS[NAME]


class NotificationsSchema(EnvSchema):
    email_backend = env_field(fields.String, "NOTIFICATIONS_EMAIL_BACKEND", dev_default="console",
                              validate=validate.OneOf(["smtp", "console"]))
    sms_backend = env_field(fields.String, "NOTIFICATIONS_SMS_BACKEND", dev_default="console",
                            validate=validate.OneOf(["twilio", "console"]))
    queue = env_field(fields.String, "NOTIFICATIONS_QUEUE", load_default="notifications.requests")
    routing_key = env_field(fields.String, "NOTIFICATIONS_ROUTING_KEY", load_default="notification.#")
    retry_backoff = env_field(fields.String, "NOTIFICATIONS_RETRY_BACKOFF", load_default="1,5,30,120,600",
                              validate=validate.Regexp(r"^\d+(\.\d+)?(,\d+(\.\d+)?)*$"))
    prefetch = env_field(fields.Integer, "NOTIFICATIONS_PREFETCH", load_default=128,
                         validate=validate.Range(min=1, max=1000))
    batch_size = env_field(fields.Integer, "NOTIFICATIONS_BATCH_SIZE", load_default=64,
                           validate=validate.Range(min=1, max=500))
    per_recipient_hour = env_field(fields.Integer, "NOTIFICATIONS_MAX_PER_RECIPIENT_HOUR", load_default=10,
                                   validate=validate.Range(min=1))
    per_recipient_day = env_field(fields.Integer, "NOTIFICATIONS_MAX_PER_RECIPIENT_DAY", load_default=30,
                                  validate=validate.Range(min=1))
    mail_from = env_field(fields.String, "NOTIFICATIONS_MAIL_FROM", load_default="CareKey <no-reply@carekey.local>")
    smtp_host = env_field(fields.String, "SMTP_HOST", load_default="127.0.0.1")
    smtp_port = env_field(fields.Integer, "SMTP_PORT", load_default=1025, validate=validate.Range(min=1, max=65535))
    smtp_username = env_field(fields.String, "SMTP_USERNAME", load_default=None)
    smtp_password = env_field(fields.String, "SMTP_PASSWORD", load_default=None)
    smtp_starttls = env_field(fields.Boolean, "SMTP_STARTTLS", load_default=False)
    smtp_timeout = env_field(fields.Float, "SMTP_TIMEOUT", load_default=10.0)
    twilio_account_sid = env_field(fields.String, "TWILIO_ACCOUNT_SID", load_default=None)
    twilio_auth_token = env_field(fields.String, "TWILIO_AUTH_TOKEN", load_default=None)
    twilio_from = env_field(fields.String, "TWILIO_FROM_NUMBER", load_default=None)
    twilio_api_url = env_field(fields.String, "TWILIO_API_URL", load_default=None)
    twilio_timeout = env_field(fields.Float, "TWILIO_TIMEOUT", load_default=10.0)


@dataclass(frozen=True)
class NotificationsSettings:
    base: ServiceSettings
    email_backend: str
    sms_backend: str
    queue: str
    routing_key: str
    retry_backoff: tuple[float, ...]
    prefetch: int
    batch_size: int
    per_recipient_hour: int
    per_recipient_day: int
    mail_from: str
    smtp_host: str
    smtp_port: int
    smtp_username: str | None
    smtp_password: str | None
    smtp_starttls: bool
    smtp_timeout: float
    twilio_account_sid: str | None
    twilio_auth_token: str | None
    twilio_from: str | None
    twilio_api_url: str | None
    twilio_timeout: float

    def __getattr__(self, name):  # the shared plumbing reads the base settings
        return getattr(self.base, name)

    @property
    def status_callback_url(self) -> str:
        return f"{self.base.public_url}/twilio/status"


def load(environ: Mapping[str, str] | None = None) -> NotificationsSettings:
    base = load_service_settings(NAME, DEFAULT_PORT, environ)
    values = load_settings(NotificationsSchema(), environ)
    values["retry_backoff"] = tuple(float(v) for v in values["retry_backoff"].split(","))
    if values["batch_size"] > values["prefetch"]:
        raise SettingsError("NOTIFICATIONS_BATCH_SIZE: at most NOTIFICATIONS_PREFETCH (a batch is drawn from it)")
    if values["sms_backend"] == "twilio":
        missing = [name for name, key in (("TWILIO_ACCOUNT_SID", "twilio_account_sid"),
                                          ("TWILIO_AUTH_TOKEN", "twilio_auth_token"),
                                          ("TWILIO_FROM_NUMBER", "twilio_from")) if not values[key]]
        if missing:
            raise SettingsError(f"{missing[0]}: required when NOTIFICATIONS_SMS_BACKEND=twilio")
    if not base.common.is_dev and "console" in (values["email_backend"], values["sms_backend"]):
        raise SettingsError("NOTIFICATIONS_EMAIL_BACKEND: the console outbox is for dev only")
    return NotificationsSettings(base=base, **values)
