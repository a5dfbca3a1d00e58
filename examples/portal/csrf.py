"""CSRF protection for the portal's forms: a random token in the signed session cookie, echoed by
each form and compared in constant time."""
from __future__ import annotations

import hmac
import secrets

from flask import request, session

FIELD = "csrf_token"


class CsrfError(Exception):
    """A form without the session's token: stale page, another site, or a lost cookie."""


def token() -> str:
    if FIELD not in session:
        session[FIELD] = secrets.token_urlsafe(32)
    return session[FIELD]


def protect() -> None:
    expected = session.get(FIELD)
    given = request.form.get(FIELD, "")
    if not expected or not hmac.compare_digest(str(expected).encode(), given.encode("utf-8", "surrogatepass")):
        raise CsrfError()
