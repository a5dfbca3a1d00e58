"""JSON logs with a request id, and a filter that keeps secrets out of them.

The request id lives in a context variable: the HTTP layer sets it from ``X-Request-ID`` (or makes
one), outgoing HTTP calls and published messages carry it, and consumers restore it.
"""
from __future__ import annotations

import contextvars
import logging
import re
import sys
import uuid
from typing import Any

from pythonjsonlogger.json import JsonFormatter

REQUEST_ID_HEADER = "X-Request-ID"
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

REDACTED = "[redacted]"
SENSITIVE_KEY = re.compile(
    r"pass(word|wd|phrase)?|secret|token|(?<!status_)(?<!error_)code|pin\b|otp|authorization|cookie|answer|assertion|credential|api[_-]?key",
    re.IGNORECASE,
)
_PATTERNS = [
    # key=value or "key": "value" pairs whose key names a secret
    (re.compile(r"""(?P<key>["']?[\w-]*(?:pass(?:word|wd)?|secret|token|(?<!status_)(?<!error_)code|pin|otp|answer|api[_-]?key)[\w-]*["']?\s*[=:]\s*)(?P<q>["']?)[^\s"'&,;}]+(?P=q)""", re.IGNORECASE),
     lambda m: f"{m.group('key')}{m.group('q')}{REDACTED}{m.group('q')}"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), lambda m: f"{m.group(1)} {REDACTED}"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), lambda m: REDACTED),
]


def new_request_id() -> str:
    return uuid.uuid4().hex


def get_request_id() -> str | None:
    return _request_id.get()


def set_request_id(value: str | None) -> contextvars.Token:
    return _request_id.set(value)


def reset_request_id(token: contextvars.Token) -> None:
    _request_id.reset(token)


def redact_text(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_value(key: str, value: Any) -> Any:
    if SENSITIVE_KEY.search(key):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(key, v) for v in value]
    return value


_STANDARD_ATTRS = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class RedactingFilter(logging.Filter):
    """Adds the request id and removes passwords, codes and tokens from every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = get_request_id()
        message = record.getMessage()
        record.msg = redact_text(message)
        record.args = None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD_ATTRS and key != "request_id":
                setattr(record, key, redact_value(key, value))
        return True


def configure_logging(service: str, *, level: str = "INFO", json: bool = True) -> None:
    """Route every logger through one redacting handler on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    if json:
        handler.setFormatter(JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "asctime": "time", "name": "logger"},
            static_fields={"service": service},
        ))
    else:
        handler.setFormatter(logging.Formatter(
            f"%(asctime)s {service} %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("amqp", "kombu", "urllib3", "werkzeug"):
        logging.getLogger(noisy).setLevel(max(logging.getLevelName(level), logging.WARNING)
                                          if isinstance(logging.getLevelName(level), int) else logging.WARNING)
