"""What every OAuth endpoint refuses before Authlib reads the request, and how its refusals look.

RFC 6749 §3.1 and §3.2: a request or response parameter must not be included more than once. Every
endpoint that reads OAuth parameters (authorize, token, revocation, introspection, userinfo and
end-session) passes through one check here, counting each name over the query and the form body
together; the endpoint's own blueprint renders the refusal in its format (an error page or a
redirect to the client for authorize, a page for logout, RFC 6749 §5.2 JSON for the others).
HTTP Basic credentials are a header, not a parameter: Basic plus ``client_id`` in the body is no repeat.
"""
from __future__ import annotations

import re

from flask import Blueprint, Flask, Response, jsonify, request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from shared.errors import AppError

OAUTH_ENDPOINTS = frozenset({"authorize.authorize", "token.token", "token.revoke", "token.introspect",
                             "userinfo.userinfo", "logout.logout"})
_SHOWABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class RepeatedParameter(AppError):
    def __init__(self, name: str) -> None:
        shown = name if _SHOWABLE_NAME.fullmatch(name) else "a parameter"
        super().__init__("invalid_request", 400, f"The request includes {shown} more than once.")
        self.name = name


def first_repeated(values: MultiDict) -> str | None:
    return next((name for name in values.keys() if len(values.getlist(name)) > 1), None)


def install(app: Flask) -> None:
    @app.before_request
    def _refuse_repeated_parameters() -> None:
        if request.endpoint in OAUTH_ENDPOINTS:
            name = first_repeated(request.values)
            if name is not None:
                raise RepeatedParameter(name)


def oauth_error(status: int, error: str, description: str) -> Response:
    """An RFC 6749 §5.2 error body (never cached)."""
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def json_errors(bp: Blueprint) -> None:
    """Whatever this blueprint's requests are refused for (a repeated parameter, NUL characters, a body
    too large, a wrong method), the answer is an OAuth JSON error rather than a problem document."""

    @bp.errorhandler(AppError)
    def _app_error(error: AppError):
        return oauth_error(error.status, "invalid_request" if error.status < 500 else "server_error",
                           error.description)

    @bp.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        status = error.code or 400
        response = oauth_error(status, "invalid_request" if status < 500 else "server_error",
                               error.description or "The request cannot be answered.")
        if status == 405 and getattr(error, "valid_methods", None):
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response
