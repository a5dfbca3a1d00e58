"""The notification request contract: what a service asks the notifications service to deliver.

Sent as the payload of a ``notification.requested`` event (the envelope's id is the notification's
id, so a redelivered request is recognised) through the sender's transactional outbox.
Consumers accept version 1 (the current one).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import Table
from sqlalchemy.orm import Session

from shared.messaging.outbox import enqueue

EVENT_TYPE = "notification.requested"
VERSION = 1
ACCEPTED_VERSIONS = (1,)
CHANNELS = ("email", "sms", "voice")
TEMPLATES = ("invitation", "verification_code", "safe_health_code", "forgotten_user_id", "password_reset",
             "security_alert", "practice_linked", "proxy_granted")
E164 = r"^\+[1-9][0-9]{6,14}$"


class RecipientSchema(Schema):
    class Meta:
        unknown = RAISE

    email = fields.Email(load_default=None)
    phone = fields.String(load_default=None, validate=validate.Regexp(E164, error="Use E.164, e.g. +15555550123."))
    name = fields.String(load_default=None, validate=validate.Length(max=120))


class NotificationRequestSchema(Schema):
    class Meta:
        unknown = RAISE

    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    recipient = fields.Nested(RecipientSchema, required=True)
    template = fields.String(required=True, validate=validate.OneOf(TEMPLATES))
    locale = fields.String(load_default="en", validate=validate.OneOf(["en"]))
    variables = fields.Dict(keys=fields.String(), load_default=dict)
    expires_at = fields.AwareDateTime(load_default=None, allow_none=True)

    @validates_schema
    def _address_for_channel(self, data, **_):
        needed = "email" if data["channel"] == "email" else "phone"
        if not data["recipient"].get(needed):
            raise ValidationError(f"A {data['channel']} notification needs recipient.{needed}.")


_SCHEMA = NotificationRequestSchema()


def parse_request(payload: Any) -> dict[str, Any]:
    """Validate a request payload; raises marshmallow.ValidationError."""
    return _SCHEMA.load(payload)


# the address of a withheld request (never sent): reserved names that reach no one
_WITHHELD_TO = {"email": {"email": "withheld@carekey.invalid"}, "sms": {"phone": "+10000000000"},
                "voice": {"phone": "+10000000000"}}


def request_notification(session: Session, outbox: Table, *, channel: str, recipient: dict[str, str] | None,
                         template: str, variables: dict[str, Any] | None = None, locale: str = "en",
                         expires_at: datetime | None = None) -> dict:
    """Ask for a message in the caller's transaction; sent only if that transaction commits.

    ``recipient=None`` withholds it: the request is built, checked and written exactly as one to send,
    to a placeholder address and recorded as never to be published (``enqueue(withheld=True)``). For a
    branch that must cost what sending costs, e.g. registration's codes for someone who is no one's
    patient, which must look and take the same as codes for a patient."""
    withheld = recipient is None
    payload = {"channel": channel,
               "recipient": _WITHHELD_TO.get(channel, {}) if withheld else {k: v for k, v in recipient.items() if v},
               "template": template, "locale": locale, "variables": variables or {},
               "expires_at": expires_at.isoformat() if expires_at else None}
    parse_request(payload)
    return enqueue(session, outbox, EVENT_TYPE, payload, version=VERSION, withheld=withheld)
