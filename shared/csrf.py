"""CSRF protection for every form: a random token in the signed session cookie, echoed by each form."""
from __future__ import annotations

import hmac
import secrets

from flask import request, session

from shared.errors import AppError

FIELD = "csrf_token"


def token() -> str:
    if FIELD not in session:
        session[FIELD] = secrets.token_urlsafe(32)
    return session[FIELD]


def protect() -> None:
    expected = session.get(FIELD)
    given = request.headers.get("X-CSRF-Token") or request.form.get(FIELD, "")
    if not expected or not hmac.compare_digest(expected.encode(), given.encode("utf-8", "surrogatepass")):
        raise AppError("invalid_csrf", 400, "This form expired. Go back, reload the page and try again.")
