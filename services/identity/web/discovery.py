"""Discovery documents and the JWKS, cacheable (they change only with a key rotation).

They are served as precomputed bytes with a strong ``ETag`` (``If-None-Match`` answers 304) and
``Cache-Control``, by :class:`WellKnownMiddleware` in front of Flask: these are the most requested
URLs of an identity provider (every portal and resource server fetches them) and need none of a
page's machinery. The JWKS bytes are rebuilt when the key ring reloads a different key set. The
blueprint below answers the same documents when the key ring is not ready yet (first start).
"""
from __future__ import annotations

import hashlib
import json as stdlib_json
import threading
import time
from dataclasses import dataclass

from flask import Blueprint, Response, json, request

from services.identity.domain import scopes as scope_rules
from services.identity.web.context import services

bp = Blueprint("discovery", __name__)
CACHE = "public, max-age=300"
AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]


def metadata(issuer: str) -> dict:
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "revocation_endpoint": f"{issuer}/revoke",
        "introspection_endpoint": f"{issuer}/introspect",
        "end_session_endpoint": f"{issuer}/logout",
        "scopes_supported": sorted(scope_rules.OIDC_SCOPES) + ["patient/*.rs", "patient/*.read"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": ["ES256", "RS256"],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "RS256"],
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": AUTH_METHODS,
        "code_challenge_methods_supported": ["S256"],
        "claims_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid",
                             "at_hash", "azp", "name", "given_name", "family_name", "preferred_username",
                             "email", "email_verified", "phone_number", "fhirUser"],
        "acr_values_supported": ["urn:carekey:acr:password", "urn:carekey:acr:mfa"],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "authorization_response_iss_parameter_supported": True,
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "frontchannel_logout_supported": False,
        "ui_locales_supported": ["en"],
    }


def _json(body: dict, content_type: str = "application/json") -> Response:
    document = Document.of(body, content_type)
    if document.matches(request.headers.get("If-None-Match")):
        response = Response(status=304)
    else:
        response = Response(document.body, mimetype=content_type)
    for name, value in document.cache_headers:
        response.headers[name] = value
    return response


@bp.get("/.well-known/openid-configuration")
def openid_configuration():
    return _json(services().discovery)


@bp.get("/.well-known/oauth-authorization-server")
def oauth_authorization_server():
    return _json(services().discovery)


@bp.get("/.well-known/jwks.json")
def jwks():
    return _json(services().keyring.jwks(), "application/jwk-set+json")


@bp.get("/.well-known/smart-configuration")
def smart_configuration():
    return _json(smart_metadata(services().settings.issuer))


def smart_metadata(issuer: str) -> dict:
    return {
        "issuer": issuer, "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "authorization_endpoint": f"{issuer}/authorize", "token_endpoint": f"{issuer}/token",
        "grant_types_supported": ["authorization_code", "client_credentials"],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "scopes_supported": ["openid", "fhirUser", "launch/patient", "offline_access", "patient/*.rs"],
        "response_types_supported": ["code"], "code_challenge_methods_supported": ["S256"],
        "revocation_endpoint": f"{issuer}/revoke", "introspection_endpoint": f"{issuer}/introspect",
        "capabilities": ["launch-standalone", "client-public", "client-confidential-symmetric",
                         "client-confidential-asymmetric", "sso-openid-connect", "context-standalone-patient",
                         "permission-patient", "permission-offline", "permission-v2"],
    }


# -- precomputed documents in front of Flask ---------------------------------------------------------
@dataclass(frozen=True)
class Document:
    body: bytes
    content_type: str
    etag: str

    @classmethod
    def of(cls, data: dict, content_type: str) -> "Document":
        body = stdlib_json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
        return cls(body, content_type, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')

    @property
    def cache_headers(self) -> list[tuple[str, str]]:
        return [("Cache-Control", CACHE), ("Access-Control-Allow-Origin", "*"), ("ETag", self.etag)]

    def matches(self, if_none_match: str | None) -> bool:
        """RFC 9110 §13.1.2: weak comparison; ``*`` matches any current representation."""
        if not if_none_match:
            return False
        for tag in if_none_match.split(","):
            tag = tag.strip()
            if tag == "*" or tag.removeprefix("W/") == self.etag:
                return True
        return False


class WellKnownMiddleware:
    """Answers GET/HEAD of the discovery documents and the JWKS before Flask, with the same
    headers (and the request id echoed, and the request counted in the metrics)."""

    def __init__(self, app, *, service: str, issuer: str, discovery: dict, keyring) -> None:
        self.app, self.service, self.keyring = app, service, keyring
        openid = Document.of(discovery, "application/json")
        self.static = {"/.well-known/openid-configuration": openid,
                       "/.well-known/oauth-authorization-server": openid,
                       "/.well-known/smart-configuration": Document.of(smart_metadata(issuer), "application/json")}
        self._jwks_source: dict | None = None
        self._jwks: Document | None = None
        self._lock = threading.Lock()
        self._metrics: dict[tuple[str, str, int], tuple] = {}

    PATHS = ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server",
             "/.well-known/smart-configuration", "/.well-known/jwks.json")

    def document(self, path: str) -> Document | None:
        if path != "/.well-known/jwks.json":
            return self.static.get(path)
        if not self.keyring.ready:
            return None  # Flask's first request generates the keys
        current = self.keyring.jwks()
        if current is not self._jwks_source:
            with self._lock:
                if current is not self._jwks_source:
                    self._jwks = Document.of(current, "application/jwk-set+json")
                    self._jwks_source = current
        return self._jwks

    def __call__(self, environ, start_response):
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if method not in ("GET", "HEAD") or path not in self.PATHS:
            return self.app(environ, start_response)
        started = time.perf_counter()
        document = self.document(path)
        if document is None:
            return self.app(environ, start_response)
        from shared.logging import new_request_id
        from shared.web import REQUEST_ID_HEADER, safe_request_id
        request_id = safe_request_id(environ.get("HTTP_" + REQUEST_ID_HEADER.upper().replace("-", "_"), "")) \
            or new_request_id()
        headers = [*document.cache_headers, (REQUEST_ID_HEADER, request_id)]
        if document.matches(environ.get("HTTP_IF_NONE_MATCH")):
            status, body = 304, b""
            start_response("304 Not Modified", headers)
        else:
            status, body = 200, (document.body if method == "GET" else b"")
            start_response("200 OK", [("Content-Type", document.content_type),
                                      ("Content-Length", str(len(document.body))), *headers])
        self._observe(method, path, status, time.perf_counter() - started)
        return [body]

    def _observe(self, method: str, path: str, status: int, seconds: float) -> None:
        children = self._metrics.get((method, path, status))
        if children is None:
            from shared.metrics import LATENCY, REQUESTS
            children = (LATENCY.labels(self.service, method, path), REQUESTS.labels(self.service, method, path,
                                                                                 str(status)))
            self._metrics[(method, path, status)] = children
        children[0].observe(seconds)
        children[1].inc()
