"""The token, revocation and introspection endpoints (Authlib), answering RFC 6749 errors."""
from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote

from flask import Blueprint, request

from services.identity.web.context import no_store, services
from services.identity.web.oauth_requests import json_errors, oauth_error

bp = Blueprint("token", __name__)
json_errors(bp)


@bp.before_request
def _malformed_authorization():
    """Authlib unpacks 'Basic credentials' without checking them: an empty or undecodable credential,
    or one holding control characters (NUL included, also percent-encoded), is refused here."""
    header = request.headers.get("Authorization")
    if header is None or _usable(header):
        return None
    response = oauth_error(401, "invalid_client", "The Authorization header is malformed.")
    response.headers["WWW-Authenticate"] = 'Basic realm="carekey"'
    return response


def _usable(header: str) -> bool:
    parts = header.split(None, 1)
    if len(parts) < 2:
        return False
    if parts[0].lower() != "basic":
        return True  # not client authentication: Authlib finds no client and says so
    try:
        text = base64.b64decode(parts[1]).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return all(unquote(part).isprintable() for part in text.split(":", 1))


@bp.post("/token")
def token():
    return no_store(services().server.create_token_response())


@bp.post("/revoke")
def revoke():
    return no_store(services().server.create_endpoint_response("revocation"))


@bp.post("/introspect")
def introspect():
    return no_store(services().server.create_endpoint_response("introspection"))
