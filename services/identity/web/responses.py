"""Authorization responses: ``iss`` added (RFC 9207), delivered by query redirect or form_post."""
from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Response, redirect, render_template

RESPONSE_MODES = ("query", "form_post")


def deliver(redirect_uri: str, params: dict[str, str], response_mode: str | None, issuer: str) -> Response:
    params = {**{k: v for k, v in params.items() if v is not None}, "iss": issuer}
    if response_mode == "form_post":
        response = Response(render_template("form_post.html", action=redirect_uri, fields=params))
        response.headers["Cache-Control"] = "no-store"
        response.headers["Content-Security-Policy"] = ("default-src 'none'; script-src 'unsafe-inline'; form-action *; "
                                                       "frame-ancestors 'none'")
        response.headers["X-Frame-Options"] = "DENY"
        return response
    parts = urlsplit(redirect_uri)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    response = redirect(urlunsplit(parts._replace(query=urlencode(query))), code=302)
    response.headers["Cache-Control"] = "no-store"
    return response


def error(redirect_uri: str, code: str, description: str | None, state: str | None,
          response_mode: str | None, issuer: str) -> Response:
    return deliver(redirect_uri, {"error": code, "error_description": description, "state": state},
                   response_mode, issuer)


def from_authlib(response: Response, redirect_uri: str, response_mode: str | None, issuer: str) -> Response:
    """Re-deliver Authlib's redirect (code or error) with ``iss`` and in the requested mode."""
    location = response.headers.get("Location")
    if response.status_code != 302 or not location or not location.startswith(redirect_uri.split("?")[0]):
        return response
    added = dict(parse_qsl(urlsplit(location).query, keep_blank_values=True))
    for key, _ in parse_qsl(urlsplit(redirect_uri).query, keep_blank_values=True):
        added.pop(key, None)
    return deliver(redirect_uri, added, response_mode, issuer)
