"""The message envelope every event carries: type, version, id, occurred_at, payload.

Consumers accept the current and the previous version of a type so either side can deploy first.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

CONTENT_TYPE = "application/json"


class EnvelopeSchema(Schema):
    class Meta:
        unknown = RAISE

    type = fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"))
    version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    id = fields.UUID(required=True)
    occurred_at = fields.AwareDateTime(required=True, format="iso")
    payload = fields.Dict(keys=fields.String(), required=True)


_SCHEMA = EnvelopeSchema()


class MalformedMessage(ValueError):
    """The message is not a valid envelope; it goes to the dead-letter queue."""


def make_envelope(type_: str, payload: dict[str, Any], *, version: int = 1,
                  message_id: uuid.UUID | None = None, occurred_at: datetime | None = None) -> dict[str, Any]:
    """A validated envelope, ready to serialise as JSON."""
    envelope = {
        "type": type_,
        "version": version,
        "id": str(message_id or uuid.uuid4()),
        "occurred_at": (occurred_at or datetime.now(timezone.utc)).isoformat(),
        "payload": payload,
    }
    errors = _SCHEMA.validate(envelope)
    if errors:
        raise MalformedMessage(f"invalid envelope: {errors}")
    return envelope


def parse_envelope(body: Any) -> dict[str, Any]:
    """Validate a decoded message body; raises :class:`MalformedMessage`."""
    if not isinstance(body, dict):
        raise MalformedMessage("message body is not a JSON object")
    try:
        return _SCHEMA.load(body)
    except ValidationError as exc:
        raise MalformedMessage(f"invalid envelope: {sorted(exc.messages)}") from None
