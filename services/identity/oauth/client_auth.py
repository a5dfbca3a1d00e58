"""private_key_jwt (RFC 7523 client assertions), with single-use ``jti``."""
from __future__ import annotations

from datetime import timedelta

from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc.jwk import KeySet

from services.identity.db.models import AccessToken
from services.identity.domain.time import now


class PrivateKeyJWT(JWTBearerClientAssertion):
    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, runtime, token_endpoint: str) -> None:
        super().__init__(validate_jti=True)
        self.runtime = runtime
        self.token_endpoint = token_endpoint

    def get_audiences(self):
        return [self.token_endpoint, self.runtime.settings.issuer]

    def resolve_client_public_key(self, client):
        return KeySet.import_key_set(client.row.jwks or {"keys": []})

    def validate_jti(self, claims, jti) -> bool:
        """Remember each assertion id until it expires (kept beside revoked token ids)."""
        session = self.runtime.db()
        key = f"assertion:{jti}"[:64]
        if session.get(AccessToken, key) is not None:
            return False
        exp = claims.get("exp")
        expires = now() + timedelta(seconds=max(60, int(exp - now().timestamp()) if exp else 300))
        session.add(AccessToken(jti=key, grant_id=None, client_id=claims.get("sub", "")[:64],
                                expires_at=expires, revoked_at=now()))
        session.flush()
        return True
