"""Access tokens at a resource server: RFC 9068 JWTs verified offline against the issuer's JWKS,
and, where a deployment asks for it, RFC 7662 introspection so a revoked token stops at once.

The checks, in order (:meth:`AccessTokenVerifier.verify`):

1. three base64url parts with a JSON header;
2. ``alg`` on the allow-list (ES256, RS256): never ``none``, never a shared-secret HS*;
3. ``typ`` is ``at+jwt`` (an ID token or a logout token is not an access token);
4. ``kid`` names a key in the issuer's JWKS (an unknown ``kid`` refetches the JWKS, at most once
   per ``min_refresh`` seconds, so forged tokens cannot make us hammer the issuer);
5. the signature, with that key and that algorithm only;
6. ``iss`` is the issuer, ``aud`` contains our audience, ``exp`` (required) and ``nbf``/``iat``
   within a small leeway, ``sub``, ``client_id`` and ``jti`` present;
7. optionally, introspection at the issuer says the token is still ``active``.

Infrastructure only: what the claims *mean* (scopes, patients) is the resource server's business.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import quote

import requests
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry
from joserfc.jws import CompactSignature, JWSRegistry, extract_compact, validate_compact

from shared.http_client import PropagatingSession

log = logging.getLogger(__name__)

ALLOWED_ALGORITHMS = ("ES256", "RS256")
ACCESS_TOKEN_TYPES = ("at+jwt", "application/at+jwt")
_KEY_TYPES = {"ES256": "EC", "RS256": "RSA"}
_REGISTRIES = {alg: JWSRegistry(algorithms=[alg]) for alg in ALLOWED_ALGORITHMS}  # one algorithm each


class TokenError(Exception):
    """The token is not acceptable: answer 401 ``invalid_token``. The message is for the log only;
    ``hint``, when set, is safe to send as the ``error_description`` (it is set only for a token whose
    signature checked out, so it tells nothing a forger could use)."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class VerifierUnavailable(Exception):
    """The issuer's keys or its introspection endpoint cannot be reached: answer 503."""


class JwksCache:
    """The issuer's public keys by ``kid``, fetched over HTTP and kept.

    An unknown ``kid`` triggers a refetch, but never more than once per ``min_refresh`` seconds;
    keys older than ``max_age`` are refetched on the next use (so retired keys drop out). When a
    refetch fails, the keys already held keep working.
    """

    def __init__(self, url: str, *, http: requests.Session | None = None, min_refresh: float = 60.0,
                 max_age: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        self.http = http or PropagatingSession(timeout=5.0)
        self.min_refresh, self.max_age, self.clock = min_refresh, max_age, clock
        self._keys: dict[str, Any] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()
        self.fetches = 0

    def key(self, kid: str):
        """The key for *kid*, or None when the issuer does not publish it."""
        with self._lock:
            if kid not in self._keys or self._stale():
                self._refresh()
            return self._keys.get(kid)

    def _stale(self) -> bool:
        return self._fetched_at is not None and self.clock() - self._fetched_at >= self.max_age

    def _refresh(self) -> None:
        if self._fetched_at is not None and self.clock() - self._fetched_at < self.min_refresh:
            return
        self._fetched_at = self.clock()
        self.fetches += 1
        try:
            response = self.http.get(self.url, headers={"Accept": "application/json"})
            response.raise_for_status()
            self._keys = _import_keys(response.json())
        except (requests.RequestException, ValueError) as exc:
            log.warning("could not fetch the issuer's keys", extra={"url": self.url, "error": type(exc).__name__})
            if not self._keys:
                raise VerifierUnavailable("the issuer's keys are unreachable") from None


def _import_keys(document: Any) -> dict[str, Any]:
    keys = {}
    for data in (document or {}).get("keys", []):
        if not isinstance(data, dict) or not data.get("kid") or data.get("use", "sig") != "sig":
            continue
        if data.get("kty") not in _KEY_TYPES.values() or "d" in data:
            continue  # only public EC/RSA signing keys; a private part is never accepted here
        try:
            keys[data["kid"]] = (JWKRegistry.import_key(data), data.get("alg"))
        except (JoseError, ValueError, TypeError):
            log.warning("skipping an unreadable key in the JWKS", extra={"kid": data.get("kid")})
    return keys


class Introspector:
    """RFC 7662 introspection with ``client_secret_basic`` (id and secret form-encoded, §2.3.1)."""

    def __init__(self, endpoint: str, client_id: str, client_secret: str, *,
                 http: requests.Session | None = None) -> None:
        self.endpoint = endpoint
        self.auth = (quote(client_id, safe=""), quote(client_secret, safe=""))
        self.http = http or PropagatingSession(timeout=5.0)

    def active(self, token: str) -> bool:
        try:
            response = self.http.post(self.endpoint, data={"token": token, "token_type_hint": "access_token"},
                                      auth=self.auth, headers={"Accept": "application/json"})
            if response.status_code != 200:
                raise VerifierUnavailable(f"introspection answered {response.status_code}")
            return response.json().get("active") is True
        except (requests.RequestException, ValueError, AttributeError):
            raise VerifierUnavailable("introspection is unreachable") from None


@dataclass(frozen=True)
class AccessTokenVerifier:
    issuer: str
    audience: str
    keys: JwksCache
    leeway: int = 30
    introspector: Introspector | None = None
    clock: Callable[[], float] = time.time

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of an acceptable access token; raises :class:`TokenError` otherwise."""
        compact = _compact(token)  # parsed once: the header checked here, the signature below
        header = compact.headers()
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            raise TokenError(f"algorithm not allowed: {alg!r}")
        if str(header.get("typ", "")).lower() not in ACCESS_TOKEN_TYPES:
            raise TokenError("not an access token (typ)")
        claims = self._signed_claims(compact, header)
        self._check_claims(claims)
        if self.introspector is not None and not self.introspector.active(token):
            raise TokenError("the issuer says the token is not active")
        return claims

    def _signed_claims(self, compact: CompactSignature, header: dict[str, Any]) -> dict[str, Any]:
        kid = header.get("kid")
        found = self.keys.key(kid) if isinstance(kid, str) and kid else None
        if found is None:
            raise TokenError("unknown signing key")
        key, key_alg = found
        if key_alg not in (None, header["alg"]) or key.key_type != _KEY_TYPES[header["alg"]]:
            raise TokenError("the key does not sign with this algorithm")
        try:  # what joserfc's jwt.decode does, on the token already parsed
            if not validate_compact(compact, key, registry=_REGISTRIES[header["alg"]]):
                raise TokenError("bad signature or payload: BadSignatureError")
            claims = json.loads(compact.payload)
        except (JoseError, ValueError, TypeError) as exc:
            raise TokenError(f"bad signature or payload: {type(exc).__name__}") from None
        if not isinstance(claims, dict):
            raise TokenError("bad signature or payload: InvalidPayloadError")
        return claims

    def _check_claims(self, claims: dict[str, Any]) -> None:
        now = self.clock()
        if claims.get("iss") != self.issuer:
            raise TokenError(f"wrong issuer {claims.get('iss')!r}, expected {self.issuer!r}",
                             hint=f"The token was issued by {claims.get('iss')}; this API trusts {self.issuer}.")
        audiences = claims.get("aud")
        audiences = audiences if isinstance(audiences, list) else [audiences]
        if self.audience not in audiences:
            raise TokenError(f"wrong audience {audiences!r}, expected {self.audience!r}",
                             hint=f"The token is for {', '.join(map(str, audiences))}; this API accepts tokens "
                                  f"for {self.audience}.")
        exp = claims.get("exp")
        if not _number(exp) or exp + self.leeway <= now:
            raise TokenError("expired or without exp", hint="The access token has expired.")
        for name in ("nbf", "iat"):
            value = claims.get(name)
            if value is not None and (not _number(value) or value - self.leeway > now):
                raise TokenError(f"{name} in the future")
        for name in ("sub", "client_id", "jti"):
            if not isinstance(claims.get(name), str) or not claims[name]:
                raise TokenError(f"missing {name}")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _compact(token: str) -> CompactSignature:
    if not isinstance(token, str) or token.count(".") != 2 or len(token) > 16_384:
        raise TokenError("not a compact JWS")
    try:
        compact = extract_compact(token.encode("ascii"))
        header = compact.headers()
    except (JoseError, ValueError, TypeError, UnicodeEncodeError, json.JSONDecodeError):
        raise TokenError("unreadable header") from None
    if not isinstance(header, dict):
        raise TokenError("unreadable header")
    return compact


def jwks_url(issuer: str) -> str:
    return f"{issuer.rstrip('/')}/.well-known/jwks.json"


def introspection_url(issuer: str) -> str:
    return f"{issuer.rstrip('/')}/introspect"
