"""JSON request bodies at an API's edge: a JSON object, validated by a marshmallow schema; anything
else is a 400 problem naming the fields."""
from __future__ import annotations

from typing import Any

from flask import request
from marshmallow import Schema, ValidationError

from shared.errors import InvalidRequest


def json_object() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidRequest("Send a JSON object.")
    return body


def load(schema: Schema, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """The request's JSON object (or *body*) loaded by *schema*."""
    try:
        return schema.load(json_object() if body is None else body)
    except ValidationError as exc:
        raise InvalidRequest("The request has invalid fields.", errors=exc.messages) from None
