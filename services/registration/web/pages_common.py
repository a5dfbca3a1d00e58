"""Rendering for registration's pages: CSRF token in every form, no caching, no framing."""
from __future__ import annotations

from flask import Response, make_response, render_template

from shared import csrf


def page(template: str, status: int = 200, **context) -> Response:
    response = make_response(render_template(template, csrf_token=csrf.token(), **context), status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = ("default-src 'self'; style-src 'self' 'unsafe-inline'; "
                                                   "frame-ancestors 'none'; form-action 'self' http: https:")
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def message(title: str, text: str, status: int = 200, **context) -> Response:
    return page("message.html", status, title=title, message=text, **context)
