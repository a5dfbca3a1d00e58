"""Bearer access tokens presented to identity's own APIs (userinfo, admin, internal)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Response, json, request

from services.identity.db.models import AccessToken, Client, Grant
from services.identity.web.context import db, services


@dataclass
class Presented:
    claims: dict[str, Any]
    grant: Grant | None

    @property
    def scopes(self) -> set[str]:
        return set((self.claims.get("scope") or "").split())


def bearer_error(status: int, error: str | None, description: str, scope: str | None = None) -> Response:
    """RFC 6750 §3: no error code when the request carried no token at all."""
    challenge = f'Bearer error="{error}", error_description="{description}"' if error else "Bearer"
    if scope:
        challenge += f', scope="{scope}"'
    response = Response(json.dumps({"error": error or "invalid_request", "error_description": description}),
                        status=status,
                        mimetype="application/json")
    response.headers["WWW-Authenticate"] = challenge
    response.headers["Cache-Control"] = "no-store"
    return response


def presented_token(allow_form: bool = False) -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    if allow_form and request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
        return request.form.get("access_token")
    return None


def authenticate(token: str | None, *, audience: str | None = None) -> Presented | None:
    if not token:
        return None
    claims = services().server.tokens.verify_access_token(token)
    if claims is None:
        return None
    if audience is not None:
        aud = claims.get("aud")
        if audience not in (aud if isinstance(aud, list) else [aud]):
            return None
    client = db().get(Client, claims.get("client_id"))
    if client is None or client.disabled_at is not None:
        return None
    record = db().get(AccessToken, claims["jti"])
    if record is not None and record.revoked_at is not None:
        return None
    grant = db().get(Grant, record.grant_id) if record and record.grant_id else None
    if grant is not None and grant.revoked_at is not None:
        return None
    return Presented(claims, grant)
