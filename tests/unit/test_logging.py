"""JSON logs carry the request id; passwords, codes and tokens never reach them."""
from __future__ import annotations

import io
import json
import logging

import pytest

from shared.logging import RedactingFilter, configure_logging, reset_request_id, set_request_id


@pytest.fixture
def log_output():
    configure_logging("test-service", level="INFO", json=True)
    stream = io.StringIO()
    handler = logging.getLogger().handlers[0]
    handler.setStream(stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logging.getLogger().handlers[:] = []


def test_log_lines_are_json_with_service_and_request_id(log_output):
    token = set_request_id("req-12345678")
    try:
        logging.getLogger("x").info("signed in", extra={"client": "portal-a"})
    finally:
        reset_request_id(token)
    [line] = log_output()
    assert line["message"] == "signed in" and line["service"] == "test-service"
    assert line["request_id"] == "req-12345678" and line["client"] == "portal-a" and line["level"] == "INFO"


@pytest.mark.parametrize("message, secret", [
    ("login failed password=hunter2-horse", "hunter2-horse"),
    ('payload {"password": "hunter2-horse"}', "hunter2-horse"),
    ("verification code=482913 sent", "482913"),
    ("client_secret=abcdef0123456789 used", "abcdef0123456789"),
    ("Authorization: Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "eyJhbGciOiJFUzI1NiJ9"),
    ("got token eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl back", "c2lnbmF0dXJl"),
    ("refresh_token=rt-0123456789abcdef&grant_type=refresh_token", "rt-0123456789abcdef"),
    ("office pin: 7731", "7731"),
])
def test_secrets_in_messages_are_redacted(log_output, message, secret):
    logging.getLogger("x").warning(message)
    [line] = log_output()
    assert secret not in json.dumps(line)
    assert "[redacted]" in line["message"]


def test_secrets_in_structured_fields_are_redacted(log_output):
    logging.getLogger("x").info("request", extra={
        "password": "hunter2-horse", "otp_code": "123456", "body": {"pin": "4321", "username": "ann"},
        "status_code": 200,
    })
    [line] = log_output()
    assert line["password"] == "[redacted]" and line["otp_code"] == "[redacted]"
    assert line["body"] == {"pin": "[redacted]", "username": "ann"}
    assert line["status_code"] == 200


def test_formatting_arguments_are_redacted_too():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "password=%s", ("hunter2-horse",), None)
    RedactingFilter().filter(record)
    assert "hunter2-horse" not in record.getMessage()
