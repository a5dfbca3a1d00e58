"""Tokens: RFC 9068 JWT access tokens (with ``kid``), rotating refresh tokens, OIDC ID tokens,
and revocation of everything one grant produced."""
from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import timedelta
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwt import JWTClaimsRegistry
from sqlalchemy import insert, update
from sqlalchemy.orm import Session

from services.identity.db.models import AccessToken, Account, Client, Grant, RefreshToken
from services.identity.domain import accounts, claims as claim_rules
from services.identity.domain import secrets
from services.identity.domain.time import epoch, now

ACCESS_TOKEN_TYP = "at+jwt"

# Built once: on the token endpoint, building a statement costs more CPU than running it.
_INSERT_ACCESS = insert(AccessToken.__table__)
_INSERT_REFRESH = insert(RefreshToken.__table__)


def _insert(session: Session, statement, values: dict) -> None:
    session.flush()  # the row references a grant that may still be pending in this session
    session.connection().execute(statement, values)


def half_hash(value: str) -> str:
    """at_hash / c_hash for ES256 and RS256 (both SHA-256)."""
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


class TokenIssuer:
    def __init__(self, settings, keyring) -> None:
        self.settings = settings
        self.keyring = keyring

    @property
    def issuer(self) -> str:
        return self.settings.issuer

    def _sign(self, claims: dict[str, Any], *, alg: str, typ: str = "JWT") -> str:
        key = self.keyring.signing_key(alg)
        return jwt.encode({"alg": alg, "typ": typ, "kid": key.kid}, claims, key.private, algorithms=[alg])

    # -- access tokens ---------------------------------------------------------------------------
    def access_token(self, session: Session | None, *, client: Client, scope: str, subject: str,
                     grant: Grant | None = None, audience: str | list[str] | None = None) -> tuple[str, int]:
        """A signed access token; a user's (with a grant) is also recorded, for revocation and introspection."""
        moment = now()
        ttl = self.settings.access_token_ttl
        jti = uuid.uuid4().hex
        claims: dict[str, Any] = {
            "iss": self.issuer, "sub": subject, "aud": audience or self.settings.records_audience,
            "client_id": client.client_id, "iat": epoch(moment), "exp": epoch(moment) + ttl, "jti": jti,
            "scope": scope,
        }
        if grant is not None:
            claims.update(auth_time=epoch(grant.auth_time), acr=grant.acr, amr=list(grant.amr or []))
            if grant.patient_id:
                claims["patient"] = grant.patient_id
            if client.practice_id:
                claims["practice"] = client.practice_id
            if any(s.startswith("patient/") for s in scope.split()):
                # whom the account may act for, everywhere, when the token was issued: the records
                # gateway applies its own rules (proxy age rules, shared labs) on top, at read time
                claims["links"] = [{"practice": link.practice_id, "patient": link.patient_id,
                                    "relationship": link.relationship}
                                   for link in accounts.valid_links(session, grant.account_id)]
            _insert(session, _INSERT_ACCESS, {"jti": jti, "grant_id": grant.id, "client_id": client.client_id,
                                              "expires_at": moment + timedelta(seconds=ttl), "revoked_at": None})
        return self._sign(claims, alg=self.settings.default_signing_alg, typ=ACCESS_TOKEN_TYP), ttl

    def verify_access_token(self, token: str) -> dict[str, Any] | None:
        """Claims of a valid, unexpired access token signed by us, or None."""
        try:
            decoded = jwt.decode(token, self._key_for(token), algorithms=["ES256", "RS256"])
        except (JoseError, ValueError, TypeError, KeyError):
            return None
        if decoded.header.get("typ") != ACCESS_TOKEN_TYP:
            return None
        try:
            JWTClaimsRegistry(iss={"essential": True, "value": self.issuer}, exp={"essential": True},
                              jti={"essential": True}).validate(decoded.claims)
        except JoseError:
            return None
        return decoded.claims

    def _key_for(self, token: str):
        from joserfc.jws import extract_compact
        kid = extract_compact(token.encode()).headers().get("kid")
        key = self.keyring.public_key(kid) if kid else None
        if key is None:
            raise ValueError("unknown key")
        return key

    # -- refresh tokens --------------------------------------------------------------------------
    def refresh_token(self, session: Session, grant: Grant, client: Client, scope: str) -> str:
        value = secrets.new_secret(32)
        moment = now()
        _insert(session, _INSERT_REFRESH, {
            "digest": secrets.digest(value), "grant_id": grant.id, "client_id": client.client_id, "scope": scope,
            "issued_at": moment, "expires_at": moment + timedelta(seconds=self.settings.refresh_token_ttl),
            "rotated_at": None, "revoked_at": None})
        return value

    # -- ID tokens -------------------------------------------------------------------------------
    def id_token(self, *, client: Client, account: Account, grant: Grant, nonce: str | None,
                 access_token: str | None, scope: str, code: str | None = None) -> str:
        moment = now()
        claims: dict[str, Any] = {
            "iss": self.issuer, "sub": claim_rules.subject(account.id, client, self.settings.pairwise_salt),
            "aud": client.client_id, "azp": client.client_id, "iat": epoch(moment),
            "exp": epoch(moment) + self.settings.id_token_ttl, "auth_time": epoch(grant.auth_time),
            "acr": grant.acr, "amr": list(grant.amr or ["pwd"]),
        }
        if grant.session_id:
            claims["sid"] = grant.session_id
        if nonce:
            claims["nonce"] = nonce
        if access_token:
            claims["at_hash"] = half_hash(access_token)
        if code:
            claims["c_hash"] = half_hash(code)
        requested = (grant.claims or {}).get("id_token")
        claims.update(claim_rules.release(account, [], requested,
                                          claim_rules.implied_scopes(requested) & set((client.scope or "").split())))
        if grant.patient_id and ("fhirUser" in scope.split() or "launch/patient" in scope.split()):
            claims["fhirUser"] = f"{self.settings.records_audience}/Patient/{grant.patient_id}"
        return self._sign(claims, alg=client.id_token_signed_response_alg)

    def logout_token(self, client: Client, account_id: str, session_id: str) -> str:
        moment = now()
        claims = {"iss": self.issuer, "aud": client.client_id, "iat": epoch(moment), "exp": epoch(moment) + 120,
                  "jti": uuid.uuid4().hex, "sid": session_id,
                  "sub": claim_rules.subject(account_id, client, self.settings.pairwise_salt),
                  "events": {"http://schemas.openid.net/event/backchannel-logout": {}}}
        return self._sign(claims, alg=client.id_token_signed_response_alg, typ="logout+jwt")

    def decode_id_token_hint(self, token: str) -> dict[str, Any] | None:
        """Claims of an ID token we issued (expired ones accepted, as logout hints may be old)."""
        try:
            decoded = jwt.decode(token, self._key_for(token), algorithms=["ES256", "RS256"])
        except (JoseError, ValueError, TypeError, KeyError):
            return None
        if decoded.claims.get("iss") != self.issuer or decoded.header.get("typ") == ACCESS_TOKEN_TYP:
            return None
        return decoded.claims


def revoke_grant(session: Session, grant_id: str) -> None:
    """Revoke a grant and every token it produced."""
    moment = now()
    session.execute(update(Grant).where(Grant.id == grant_id, Grant.revoked_at.is_(None)).values(revoked_at=moment))
    session.execute(update(RefreshToken).where(RefreshToken.grant_id == grant_id, RefreshToken.revoked_at.is_(None))
                    .values(revoked_at=moment))
    session.execute(update(AccessToken).where(AccessToken.grant_id == grant_id, AccessToken.revoked_at.is_(None))
                    .values(revoked_at=moment))
