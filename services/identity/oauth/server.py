"""The authorization server: Authlib's, with our client lookup, grants, PKCE, OIDC and endpoints."""
from __future__ import annotations

import json

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import InvalidScopeError, OAuth2Request, scope_to_list

from services.identity.db.models import Client
from services.identity.domain import scopes as scope_rules
from services.identity.oauth.client_auth import PrivateKeyJWT
from services.identity.oauth.client_model import OAuthClient
from services.identity.oauth.endpoints import Introspection, Revocation
from services.identity.oauth.grants import AuthorizationCodeGrant, ClientCredentialsGrant, RefreshTokenGrant
from services.identity.oauth.oidc import CareKeyOpenIDCode
from services.identity.oauth.pkce import S256CodeChallenge
from services.identity.oauth.runtime import Runtime
from services.identity.oauth.tokens import TokenIssuer


class CareKeyAuthorizationServer(AuthorizationServer):
    def __init__(self, app, runtime: Runtime) -> None:
        self.runtime = runtime
        self.tokens = TokenIssuer(runtime.settings, runtime.keyring)
        super().__init__(app, query_client=self._query_client, save_token=lambda token, request: None)

    def _query_client(self, client_id: str):
        if not client_id or not isinstance(client_id, str) or len(client_id) > 64:
            return None
        def load():
            return self.runtime.db().get(Client, client_id)
        row = self.runtime.clients.get(client_id, load) if self.runtime.clients is not None else load()
        return OAuthClient(row) if row is not None and row.disabled_at is None else None

    def create_oauth2_request(self, request):
        if isinstance(request, OAuth2Request):  # a stored authorization request being finished
            return request
        return super().create_oauth2_request(request)

    def validate_requested_scope(self, scope):
        if scope and not all(scope_rules.is_known(s) for s in scope_to_list(scope)):
            raise InvalidScopeError()

    def handle_response(self, status_code, payload, headers):
        if isinstance(payload, dict):
            payload = json.dumps(payload)
        return super().handle_response(status_code, payload, headers)


def build_server(app, runtime: Runtime, token_endpoint: str) -> CareKeyAuthorizationServer:
    server = CareKeyAuthorizationServer(app, runtime)
    server.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True), CareKeyOpenIDCode(runtime)])
    server.register_grant(RefreshTokenGrant)
    server.register_grant(ClientCredentialsGrant)
    server.register_client_auth_method(PrivateKeyJWT.CLIENT_AUTH_METHOD, PrivateKeyJWT(runtime, token_endpoint))
    server.register_endpoint(Revocation)
    server.register_endpoint(Introspection)
    return server
