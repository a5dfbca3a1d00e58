"""JSON request bodies at an API's edge: a JSON object (parsed within shared.json_text's limits),
validated by a marshmallow schema; anything else is a 400 problem naming the fields."""
from __future__ import annotations

from typing import Any

from flask import request
from marshmallow import Schema, ValidationError

from shared import json_text
from shared.errors import InvalidRequest


def json_object() -> dict[str, Any]:
    if not request.is_json:
        raise InvalidRequest("Send a JSON object (Content-Type: application/json).")
    try:
        body = json_text.loads(request.get_data(cache=True))
    except ValueError as exc:
        raise InvalidRequest(f"The body is not JSON we accept: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidRequest("Send a JSON object.")
    return body


def load(schema: Schema, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """The request's JSON object (or *body*) loaded by *schema*."""
    try:
        return schema.load(json_object() if body is None else body)
    except ValidationError as exc:
        raise InvalidRequest("The request has invalid fields.", errors=exc.messages) from None
