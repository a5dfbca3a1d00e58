"""The message envelope contract."""
from __future__ import annotations

import json
import uuid

import pytest

from shared.messaging.envelope import MalformedMessage, make_envelope, parse_envelope


def test_envelope_has_type_version_id_time_and_payload():
    envelope = make_envelope("notification.requested", {"channel": "email"}, version=2)
    assert set(envelope) == {"type", "version", "id", "occurred_at", "payload"}
    assert uuid.UUID(envelope["id"]) and envelope["version"] == 2
    parsed = parse_envelope(json.loads(json.dumps(envelope)))
    assert parsed["payload"] == {"channel": "email"} and parsed["occurred_at"].tzinfo is not None


@pytest.mark.parametrize("mutate", [
    lambda e: e.pop("type"),
    lambda e: e.update(type="NotDotted"),
    lambda e: e.update(version=0),
    lambda e: e.update(version="1"),
    lambda e: e.update(id="not-a-uuid"),
    lambda e: e.update(occurred_at="2026-01-01T00:00:00"),  # no time zone
    lambda e: e.update(payload=["x"]),
    lambda e: e.update(extra="field"),
], ids=["no-type", "bad-type", "version-zero", "version-string", "bad-id", "naive-time", "payload-list",
        "unknown-field"])
def test_invalid_envelopes_are_refused(mutate):
    envelope = make_envelope("notification.requested", {})
    mutate(envelope)
    with pytest.raises(MalformedMessage):
        parse_envelope(envelope)


def test_non_object_body_is_refused():
    with pytest.raises(MalformedMessage):
        parse_envelope(["not", "an", "object"])


def test_make_envelope_refuses_an_invalid_type():
    with pytest.raises(MalformedMessage):
        make_envelope("Bad Type", {})
