"""Discovery documents and the JWKS, cacheable (they change only with a key rotation)."""
from __future__ import annotations

from flask import Blueprint, Response, json

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
    response = Response(json.dumps(body), mimetype=content_type)
    response.headers["Cache-Control"] = CACHE
    response.headers["Access-Control-Allow-Origin"] = "*"
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
    issuer = services().settings.issuer
    return _json({
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
    })
