"""Revocation (RFC 7009) and introspection (RFC 7662) over JWT access and opaque refresh tokens."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint

from services.identity.db.models import AccessToken, Client, Grant, RefreshToken
from services.identity.domain import audit, claims as claim_rules, secrets
from services.identity.domain.time import aware, epoch, now
from services.identity.oauth.grants import CLIENT_AUTH_METHODS
from services.identity.oauth.tokens import revoke_grant

INTROSPECT_SCOPE = "records:introspect"


@dataclass
class FoundToken:
    kind: str  # access_token | refresh_token
    client_id: str
    grant: Grant | None
    claims: dict[str, Any] | None = None
    refresh: RefreshToken | None = None
    record: AccessToken | None = None

    def check_client(self, client) -> bool:
        return self.client_id == client.get_client_id()

    def is_expired(self) -> bool:
        return False  # access tokens are verified with their exp; refresh tokens in `active`

    def is_revoked(self) -> bool:
        return not self.active

    @property
    def active(self) -> bool:
        if self.grant is not None and self.grant.revoked_at is not None:
            return False
        if self.kind == "refresh_token":
            r = self.refresh
            return r.revoked_at is None and r.rotated_at is None and aware(r.expires_at) > now()
        return not (self.record is not None and self.record.revoked_at is not None)


def find_token(runtime, server, token: str, hint: str | None) -> FoundToken | None:
    session = runtime.db()
    order = ["refresh_token", "access_token"] if hint == "refresh_token" else ["access_token", "refresh_token"]
    for kind in order:
        if kind == "access_token" and token.count(".") == 2:
            claims = server.tokens.verify_access_token(token)
            if claims:
                record = session.get(AccessToken, claims["jti"])
                grant = session.get(Grant, record.grant_id) if record and record.grant_id else None
                return FoundToken(kind, claims["client_id"], grant, claims=claims, record=record)
        if kind == "refresh_token":
            row = session.get(RefreshToken, secrets.digest(token))
            if row is not None:
                return FoundToken(kind, row.client_id, session.get(Grant, row.grant_id), refresh=row)
    return None


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def query_token(self, token_string, token_type_hint):
        return find_token(self.server.runtime, self.server, token_string, token_type_hint)

    def revoke_token(self, token: FoundToken, request) -> None:
        session = self.server.runtime.db()
        if token.kind == "refresh_token" or token.grant is None:
            if token.grant is not None:
                revoke_grant(session, token.grant.id)
            elif token.record is not None:
                token.record.revoked_at = token.record.revoked_at or now()
            else:  # a client-credentials token: remember its id as revoked until it expires
                session.add(AccessToken(jti=token.claims["jti"], grant_id=None, client_id=token.client_id,
                                        expires_at=aware_from_epoch(token.claims["exp"]), revoked_at=now()))
        elif token.record is not None:
            token.record.revoked_at = token.record.revoked_at or now()
        audit.record(session, "revocation", "revoked", client_id=token.client_id,
                     account_id=token.grant.account_id if token.grant else None,
                     ip=self.server.runtime.client_ip(), token_type=token.kind)


def aware_from_epoch(value: int):
    from datetime import datetime, timezone
    return datetime.fromtimestamp(int(value), timezone.utc)


class Introspection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def query_token(self, token_string, token_type_hint):
        return find_token(self.server.runtime, self.server, token_string, token_type_hint)

    def check_permission(self, token: FoundToken, client, request) -> bool:
        return token.check_client(client) or INTROSPECT_SCOPE in (client.row.scope or "").split()

    def introspect_token(self, token: FoundToken) -> dict[str, Any]:
        if not token.active:
            return {"active": False}
        if token.kind == "access_token":
            keep = ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "jti", "patient", "acr", "auth_time")
            return {"active": True, "token_type": "Bearer",
                    **{key: token.claims[key] for key in keep if key in token.claims}}
        refresh = token.refresh
        session = self.server.runtime.db()
        client = session.get(Client, refresh.client_id)
        subject = claim_rules.subject(token.grant.account_id, client, self.server.runtime.settings.pairwise_salt)
        return {"active": True, "scope": refresh.scope, "client_id": refresh.client_id, "sub": subject,
                "exp": epoch(refresh.expires_at), "iat": epoch(refresh.issued_at),
                "iss": self.server.runtime.settings.issuer}
