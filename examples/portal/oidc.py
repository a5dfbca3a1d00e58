"""The portal as an OpenID Connect relying party of CareKey, with Authlib's Flask client.

Sign-in is the authorization code flow with PKCE (S256), ``state`` and ``nonce`` (Authlib makes and
checks all three, and validates the ID token: signature, ``iss``, ``aud``, ``exp``, ``nonce``,
``at_hash``). The portal also checks ``iss`` in the authorization response (RFC 9207).
Logout tokens (OpenID Connect Back-Channel Logout 1.0, section 2.6) are validated here.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from authlib.integrations.flask_client import OAuth
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

from examples.portal.settings import PortalSettings

# What the records gateway needs: a patient context at this practice and read/search of every type.
SCOPES = "openid profile email launch/patient patient/*.rs"
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
SIGNING_ALGS = ["ES256", "RS256"]
BACK_END_ENDPOINTS = ("token_endpoint", "userinfo_endpoint", "jwks_uri", "revocation_endpoint",
                      "introspection_endpoint")
JWKS_REFETCH_SECONDS = 60.0


class LogoutTokenError(ValueError):
    """A logout token that must be refused (the reason is for the log, not the caller)."""


@dataclass(frozen=True)
class LogoutRequest:
    sid: str | None
    sub: str | None
    jti: str
    exp: int


class CareKeyClient:
    """Authlib's registered client plus what Authlib leaves to the application."""

    def __init__(self, app, settings: PortalSettings) -> None:
        self.settings = settings
        self.oauth = OAuth(app)
        self.remote = self.oauth.register(
            "carekey",
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            server_metadata_url=f"{settings.issuer_internal_url or settings.issuer}/.well-known/openid-configuration",
            client_kwargs={"scope": SCOPES, "code_challenge_method": "S256",
                           "token_endpoint_auth_method": "client_secret_basic", "timeout": 10},
        )
        self._jwks_lock = threading.Lock()
        self._jwks_fetched_at = 0.0

    @property
    def redirect_uri(self) -> str:
        return f"{self.settings.public_url}/callback"

    def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (fetched once). With ``PORTAL_ISSUER_INTERNAL_URL`` (a
        container network, say) the server-to-server endpoints are reached there, while the browser
        is still sent to the issuer's own URLs."""
        metadata = self.remote.load_server_metadata()
        internal = self.settings.issuer_internal_url
        if internal and not metadata.get("_internal"):
            for name in BACK_END_ENDPOINTS:
                if isinstance(metadata.get(name), str) and metadata[name].startswith(self.settings.issuer):
                    metadata[name] = internal + metadata[name][len(self.settings.issuer):]
            metadata["_internal"] = True
        return metadata

    def authorize_redirect(self, **params: str):
        self.metadata()
        return self.remote.authorize_redirect(self.redirect_uri, **params)

    def check_response_issuer(self, given: str | None) -> bool:
        """RFC 9207: ``iss`` in the response names our issuer (required when the OP says it sends it)."""
        if given is None:
            return not self.metadata().get("authorization_response_iss_parameter_supported")
        return given == self.settings.issuer

    def finish_sign_in(self) -> dict[str, Any]:
        """Exchange the code (state, PKCE) and validate the ID token (nonce, at_hash)."""
        self.metadata()
        return self.remote.authorize_access_token()

    def profile(self, token: dict[str, Any]) -> dict[str, Any]:
        """The patient's name and email from the UserInfo endpoint (the ID token carries only sub)."""
        return dict(self.remote.userinfo(token=token))

    def logout_url(self, id_token: str | None, post_logout_redirect_uri: str) -> str:
        self.metadata()
        return self.remote.create_logout_url(post_logout_redirect_uri=post_logout_redirect_uri,
                                             id_token_hint=id_token)["url"]

    # -- back-channel logout ---------------------------------------------------------------------
    def validate_logout_token(self, token: str) -> LogoutRequest:
        if not token or token.count(".") != 2:
            raise LogoutTokenError("not a compact JWS")
        decoded = self._decode(token)
        header, claims = decoded.header, decoded.claims
        if header.get("typ") not in (None, "logout+jwt"):
            raise LogoutTokenError("wrong typ")
        if claims.get("iss") != self.settings.issuer:
            raise LogoutTokenError("wrong issuer")
        audience = claims.get("aud")
        if not (audience == self.settings.client_id
                or (isinstance(audience, list) and self.settings.client_id in audience)):
            raise LogoutTokenError("wrong audience")
        now = time.time()
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, (int, float)) or iat > now + 60:
            raise LogoutTokenError("bad iat")
        if exp is not None and (not isinstance(exp, (int, float)) or exp < now - 60):
            raise LogoutTokenError("expired")
        events = claims.get("events")
        if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_EVENT), dict):
            raise LogoutTokenError("no back-channel logout event")
        if "nonce" in claims:
            raise LogoutTokenError("a nonce is forbidden in a logout token")
        sid, sub = claims.get("sid"), claims.get("sub")
        if not (isinstance(sid, str) and sid) and not (isinstance(sub, str) and sub):
            raise LogoutTokenError("neither sid nor sub")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise LogoutTokenError("no jti")
        return LogoutRequest(sid if isinstance(sid, str) and sid else None,
                             sub if isinstance(sub, str) and sub else None, jti,
                             int(exp if isinstance(exp, (int, float)) else iat + 600))

    def _decode(self, token: str):
        try:
            extract_compact(token.encode())  # well-formed before anything is fetched
        except (JoseError, ValueError, TypeError) as exc:
            raise LogoutTokenError(f"malformed: {type(exc).__name__}") from None
        self.metadata()
        try:
            return jwt.decode(token, KeySet.import_key_set(self.remote.fetch_jwk_set()), algorithms=SIGNING_ALGS)
        except InvalidKeyIdError:
            keys = self._refetched_keys()
            if keys is None:
                raise LogoutTokenError("unknown key") from None
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise LogoutTokenError(f"undecodable: {type(exc).__name__}") from None
        try:
            return jwt.decode(token, keys, algorithms=SIGNING_ALGS)
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise LogoutTokenError(f"undecodable: {type(exc).__name__}") from None

    def _refetched_keys(self) -> KeySet | None:
        """At most one refetch a minute, so forged ``kid``s cannot make us hammer the OP."""
        with self._jwks_lock:
            if time.monotonic() - self._jwks_fetched_at < JWKS_REFETCH_SECONDS:
                return None
            self._jwks_fetched_at = time.monotonic()
        return KeySet.import_key_set(self.remote.fetch_jwk_set(force=True))
