"""Guards for identity's service APIs: a client-credentials token for this issuer with a scope."""
from __future__ import annotations

from functools import wraps

from flask import g

from services.identity.web.bearer import authenticate, bearer_error, presented_token
from services.identity.web.context import services


def require_scope(scope: str):
    def decorate(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            token = presented_token()
            if token is None:
                return bearer_error(401, None, "A bearer token is required.")
            presented = authenticate(token, audience=services().settings.issuer)
            if presented is None:
                return bearer_error(401, "invalid_token", "The access token is not valid.")
            if scope not in presented.scopes:
                return bearer_error(403, "insufficient_scope", f"This needs the {scope} scope.", scope)
            g.api_client_id = presented.claims.get("client_id")
            return view(*args, **kwargs)
        return guarded
    return decorate
