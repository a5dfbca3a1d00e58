"""Typed errors and the one renderer: problem-details JSON for APIs, a human page for browsers.

Every error carries its wire code, HTTP status and a safe description; internal detail goes to the
log only. Anything unexpected is rendered as a generic ``server_error`` with no trace.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, json, render_template_string, request
from werkzeug.exceptions import HTTPException

from shared.logging import get_request_id

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


@dataclass
class AppError(Exception):
    """An error safe to show: ``code`` is the wire code, ``description`` the text a user may read."""

    code: str = "server_error"
    status: int = 500
    description: str = "Something went wrong on our side. Please try again in a moment."
    extra: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.code}: {self.description}"


class NotFound(AppError):
    def __init__(self, description: str = "There is nothing here.") -> None:
        super().__init__("not_found", 404, description)


class InvalidRequest(AppError):
    def __init__(self, description: str, **extra: Any) -> None:
        super().__init__("invalid_request", 400, description, extra)


class ServiceUnavailable(AppError):
    def __init__(self, description: str = "The service is not ready.", **extra: Any) -> None:
        super().__init__("unavailable", 503, description, extra)


_TITLES = {400: "Bad request", 401: "Sign-in needed", 403: "Not allowed", 404: "Not found",
           405: "Not allowed", 409: "Conflict", 413: "Too large", 415: "Unsupported", 422: "Unprocessable content", 429: "Too many requests",
           500: "Something went wrong", 503: "Temporarily unavailable"}

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} · CareKey</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;line-height:1.5;color:#1a1a1a}
h1{font-size:1.5rem}.ref{color:#555;font-size:.875rem}</style></head>
<body><main><h1>{{ title }}</h1><p>{{ description }}</p>
{% if request_id %}<p class="ref">Reference: {{ request_id }}</p>{% endif %}</main></body></html>"""


def wants_html() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", PROBLEM_JSON, "text/html"])
    return best == "text/html" and request.accept_mimetypes[best] > request.accept_mimetypes["application/json"]


def render_error(error: AppError) -> Response:
    title = _TITLES.get(error.status, "Error")
    if wants_html():
        body = render_template_string(_PAGE, title=title, description=error.description,
                                      request_id=get_request_id())
        return Response(body, status=error.status, mimetype="text/html")
    problem = {"type": "about:blank", "title": title, "status": error.status, "code": error.code,
               "detail": error.description, **error.extra}
    if get_request_id():
        problem["request_id"] = get_request_id()
    return Response(json.dumps(problem), status=error.status, mimetype=PROBLEM_JSON)


def install_error_handlers(app: Flask) -> None:
    @app.errorhandler(AppError)
    def _app_error(error: AppError):
        if error.status >= 500:
            log.error("request failed", extra={"error_code": error.code, "path": request.path})
        return render_error(error)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        status = error.code or 500
        code = (error.name or "error").lower().replace(" ", "_")
        response = render_error(AppError(code, status, error.description or _TITLES.get(status, "Error")))
        if status == 405 and getattr(error, "valid_methods", None):
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        log.exception("unhandled error", extra={"path": request.path})
        return render_error(AppError())
