"""Rendering for registration's pages: CSRF token in every form, no caching, no framing."""
from __future__ import annotations

from flask import Response, make_response, render_template

from shared import csrf


def page(template: str, status: int = 200, *, retry_after: int | None = None, **context) -> Response:
    """A page; a 429 says in ``Retry-After`` when to come back (seconds)."""
    if status == 429 and retry_after is None:
        raise ValueError("a 429 page needs retry_after")
    response = make_response(render_template(template, csrf_token=csrf.token(), **context), status)
    if retry_after is not None:
        response.headers["Retry-After"] = str(max(1, int(retry_after)))
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = ("default-src 'self'; style-src 'self' 'unsafe-inline'; "
                                                   "frame-ancestors 'none'; form-action 'self' http: https:")
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def message(title: str, text: str, status: int = 200, **context) -> Response:
    return page("message.html", status, title=title, message=text, **context)
