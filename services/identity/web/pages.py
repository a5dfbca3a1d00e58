"""Rendering helpers shared by identity's pages."""
from __future__ import annotations

from flask import Response, make_response, render_template

from services.identity.web import csrf


def page(template: str, status: int = 200, **context) -> Response:
    response = make_response(render_template(template, csrf_token=csrf.token(), **context), status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def problem_page(title: str, message: str, status: int = 400) -> Response:
    return page("message.html", status, title=title, message=message)
