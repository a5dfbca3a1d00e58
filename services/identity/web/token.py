"""The token, revocation and introspection endpoints (Authlib), answering RFC 6749 errors."""
from __future__ import annotations

from flask import Blueprint

from services.identity.web.context import services

bp = Blueprint("token", __name__)


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@bp.post("/token")
def token():
    return _no_store(services().server.create_token_response())


@bp.post("/revoke")
def revoke():
    return _no_store(services().server.create_endpoint_response("revocation"))


@bp.post("/introspect")
def introspect():
    return _no_store(services().server.create_endpoint_response("introspection"))
