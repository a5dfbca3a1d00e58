"""The client as Authlib sees it (rfc6749 ClientMixin) over our stored client."""
from __future__ import annotations

from authlib.oauth2.rfc6749 import ClientMixin, list_to_scope, scope_to_list

from services.identity.db.models import Client
from services.identity.domain import scopes as scope_rules
from services.identity.domain import secrets


class OAuthClient(ClientMixin):
    def __init__(self, row: Client) -> None:
        self.row = row

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> str | None:
        uris = self.row.redirect_uris or []
        return uris[0] if len(uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = set(scope_to_list(self.row.scope) or [])
        if not scope:
            return self.row.scope
        return list_to_scope([s for s in scope_to_list(scope) if scope_rules.covered_by(s, allowed)])

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in (self.row.redirect_uris or [])  # exact, query included

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.matches(client_secret, self.row.secret_digest)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.row.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in (self.row.grant_types or [])

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in (self.row.grant_types or [])

    @property
    def id_token_signed_response_alg(self) -> str:
        return self.row.id_token_signed_response_alg

    @property
    def is_public(self) -> bool:
        return self.row.public
