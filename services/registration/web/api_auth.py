"""Bearer tokens for registration's operator API: identity's RFC 9068 access tokens, verified offline
(shared/tokens.py) with this service as the audience, and the scope each route needs."""
from __future__ import annotations

from functools import wraps

from flask import current_app, g, jsonify, request

from services.registration.web.context import services
from shared.tokens import TokenError, VerifierUnavailable

ADMIN = "registration:admin"
MATCH = "registration:match"


def _bearer_error(status: int, error: str | None, description: str, scope: str | None = None):
    challenge = 'Bearer realm="carekey-registration"'
    if error:
        quoted = description.replace("\\", "").replace('"', "'")
        challenge += f', error="{error}", error_description="{quoted}"'
    if scope:
        challenge += f', scope="{scope}"'
    body = {"type": "about:blank", "title": "Sign-in needed" if status == 401 else "Not allowed", "status": status,
            "code": error or "unauthorized", "detail": description}
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    response.headers["WWW-Authenticate"] = challenge
    return response


def require_scope(*accepted: str):
    """Any one of *accepted* scopes lets the request through."""
    def decorate(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            if not header:
                return _bearer_error(401, None, "A bearer token is required.")
            if scheme.lower() != "bearer" or not token.strip():
                return _bearer_error(401, "invalid_request", "Send the token as: Authorization: Bearer <token>.")
            try:
                claims = services().verifier.verify(token.strip())
            except TokenError as exc:
                current_app.logger.info("operator token refused", extra={"reason": str(exc)})
                return _bearer_error(401, "invalid_token", exc.hint or "The access token is not valid.")
            except VerifierUnavailable:
                response = jsonify({"type": "about:blank", "title": "Temporarily unavailable", "status": 503,
                                    "code": "unavailable", "detail": "Tokens cannot be checked right now."})
                response.status_code, response.mimetype = 503, "application/problem+json"
                return response
            scopes = set(str(claims.get("scope", "")).split())
            if not scopes & set(accepted):
                return _bearer_error(403, "insufficient_scope", f"This needs the {accepted[0]} scope.", accepted[0])
            g.api_client_id = claims.get("client_id")
            return view(*args, **kwargs)
        return guarded
    return decorate


def actor() -> str:
    return f"client:{g.get('api_client_id') or '?'}"
