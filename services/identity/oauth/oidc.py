"""OpenID Connect on the code grant: ID tokens signed with our keys (with ``kid``), nonce checks,
prompt handling left to the interaction state machine."""
from __future__ import annotations

from authlib.oidc.core.grants import OpenIDCode

from services.identity.db.models import AuthorizationCode
from services.identity.oauth.grants import StoredCode


class CareKeyOpenIDCode(OpenIDCode):
    def __init__(self, runtime) -> None:
        super().__init__(require_nonce=False)
        self.runtime = runtime

    def exists_nonce(self, nonce: str, request) -> bool:
        """A nonce already used by this client in a live code is a replay."""
        session = self.runtime.db()
        return session.query(AuthorizationCode.digest).filter_by(
            client_id=request.payload.client_id, nonce=nonce).first() is not None

    def process_token(self, grant, response):
        _, token, _ = response
        scope = token.get("scope") or ""
        if "openid" not in scope.split():
            return token
        code: StoredCode = grant.request.authorization_code
        token["id_token"] = grant.server.tokens.id_token(
            client=grant.request.client.row, account=grant.request.user, grant=code.grant,
            nonce=code.get_nonce(), access_token=token.get("access_token"), scope=scope)
        return token

    def validate_openid_authorization_request(self, grant, redirect_uri):
        """Nonce replay only; ``prompt`` is decided by the interaction state machine."""
        super().validate_openid_authorization_request(grant, redirect_uri)

    def __call__(self, grant):
        grant.register_hook("after_create_token_response", self.process_token)
        grant.register_hook("after_validate_authorization_request_payload",
                            self.validate_openid_authorization_request)
