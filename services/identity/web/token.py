"""The token, revocation and introspection endpoints (Authlib), answering RFC 6749 errors."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from services.identity.web.context import no_store, services

bp = Blueprint("token", __name__)


def _malformed_authorization():
    """Authlib unpacks 'Scheme credentials' without checking; an empty credential would crash it."""
    header = request.headers.get("Authorization")
    if header is not None and len(header.split(None, 1)) < 2:
        response = jsonify(error="invalid_client", error_description="The Authorization header is malformed.")
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Basic realm="carekey"'
        return no_store(response)
    return None




@bp.post("/token")
def token():
    return _malformed_authorization() or no_store(services().server.create_token_response())


@bp.post("/revoke")
def revoke():
    return _malformed_authorization() or no_store(services().server.create_endpoint_response("revocation"))


@bp.post("/introspect")
def introspect():
    return _malformed_authorization() or no_store(services().server.create_endpoint_response("introspection"))
