"""The three grants: authorization code (single use; a replay revokes what it issued), refresh token
(rotated on every use; a rotated token presented again revokes the whole grant) and client
credentials (service to service, scopes limited to the client's registration)."""
from __future__ import annotations

import uuid
from datetime import timedelta

from authlib.oauth2.rfc6749 import InvalidScopeError, grants, scope_to_list
from sqlalchemy import bindparam, func, select, update

from services.identity.db.models import Account, AuthorizationCode, Grant, RefreshToken
from services.identity.domain import audit, claims as claim_rules, scopes as scope_rules, secrets
from services.identity.domain.time import aware, now
from services.identity.oauth.tokens import revoke_grant

CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]


class _Issuing:
    """Shared by the grants: token responses carry SMART's ``patient`` when the grant has one."""

    @property
    def runtime(self):
        return self.server.runtime

    def _respond(self, grant: Grant | None, scope: str, *, account: Account | None,
                 include_refresh_token: bool) -> dict:
        client = self.request.client.row
        issuer = self.server.tokens
        if account is not None:
            subject = claim_rules.subject(account.id, client, self.runtime.settings.pairwise_salt)
            access, ttl = issuer.access_token(self.runtime.db(), client=client, scope=scope, subject=subject,
                                              grant=grant)
        else:  # a service's own token: nothing is stored, so no database session is opened
            access, ttl = issuer.access_token(None, client=client, scope=scope, subject=client.client_id,
                                              audience=self._client_credentials_audience(scope))
        token = {"access_token": access, "token_type": "Bearer", "expires_in": ttl, "scope": scope}
        if include_refresh_token and grant is not None:
            token["refresh_token"] = issuer.refresh_token(self.runtime.db(), grant, client, scope)
        if grant is not None and grant.patient_id:
            token["patient"] = grant.patient_id
        return token

    def _client_credentials_audience(self, scope: str) -> list[str]:
        audiences = [self.runtime.settings.issuer]
        if "records:introspect" in scope.split():
            audiences.append(self.runtime.settings.records_audience)
        if any(s.startswith("registration:") for s in scope.split()):
            audiences.append(self.runtime.settings.registration_audience)
        return audiences


def _with_grant_and_account(model):
    """A code or refresh token by digest, with its grant and the grant's account: one round trip."""
    return (select(model, Grant, Account)
            .outerjoin(Grant, Grant.id == model.grant_id)
            .outerjoin(Account, Account.id == Grant.account_id)
            .where(model.digest == bindparam("digest")))


def _claim(model, column: str):
    """Mark a code used or a token rotated, only if nobody has: the one request that wins it sees rowcount 1."""
    table = model.__table__
    return (update(table).where(table.c.digest == bindparam("row_digest"), table.c[column].is_(None))
            .values({column: bindparam("moment")}))


# Built once, as they run on every redemption and refresh (building a statement costs more CPU than
# running it: bench/README.md).
_FIND_CODE, _REDEEM = _with_grant_and_account(AuthorizationCode), _claim(AuthorizationCode, "used_at")
_FIND_REFRESH, _ROTATE = _with_grant_and_account(RefreshToken), _claim(RefreshToken, "rotated_at")


class AuthorizationCodeGrant(_Issuing, grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def save_authorization_code(self, code: str, request) -> None:
        session = self.runtime.db()
        context = self.runtime.authorization()
        sso = context.sso
        moment = now()
        grant = Grant(id=str(uuid.uuid4()), client_id=request.client.get_client_id(), account_id=sso.account_id,
                      session_id=sso.id, scope=request.scope, auth_time=sso.auth_time, amr=list(sso.amr),
                      acr=sso.acr, patient_id=context.patient_id, claims=context.claims, created_at=moment)
        session.add(grant)
        session.flush()  # the code row references the grant
        data = request.payload.data
        session.add(AuthorizationCode(
            digest=secrets.digest(code), grant_id=grant.id, client_id=grant.client_id,
            redirect_uri=request.payload.redirect_uri or "",
            scope=request.scope, nonce=data.get("nonce"), code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"), created_at=moment,
            expires_at=moment + timedelta(seconds=self.runtime.settings.code_ttl)))
        audit.record(session, "authorization", "code_issued", account_id=sso.account_id,
                     client_id=grant.client_id, ip=self.runtime.client_ip(), scope=request.scope)

    def query_authorization_code(self, code: str, client):
        session = self.runtime.db()
        found = session.execute(_FIND_CODE, {"digest": secrets.digest(code)}).first()
        if found is None or found[0].client_id != client.get_client_id():
            return None
        row, grant, account = found
        claimed = session.connection().execute(_REDEEM, {"row_digest": row.digest, "moment": now()}).rowcount
        if not claimed:  # a second use: revoke every token issued from this code (RFC 6749 §4.1.2)
            revoke_grant(session, row.grant_id)
            audit.record(session, "token", "code_replayed", client_id=row.client_id, ip=self.runtime.client_ip())
            self.runtime.extras["commit_on_error"] = True
            return None
        if aware(row.expires_at) <= now() or grant is None or grant.revoked_at is not None:
            return None
        return StoredCode(row, grant, account)

    def delete_authorization_code(self, authorization_code) -> None:
        """Codes are marked used when redeemed and kept, so a replay can be recognised."""

    def authenticate_user(self, authorization_code):
        account = authorization_code.account
        return account if account and account.disabled_at is None else None

    def generate_token(self, user=None, scope=None, grant_type=None, expires_in=None, include_refresh_token=True):
        grant = self.request.authorization_code.grant
        token = self._respond(grant, scope, account=user, include_refresh_token=include_refresh_token)
        audit.record(self.runtime.db(), "token", "issued", account_id=user.id,
                     client_id=grant.client_id, ip=self.runtime.client_ip(), grant_type="authorization_code")
        return token

    def save_token(self, token) -> None:
        """Tokens are persisted as they are issued."""


class StoredCode:
    """AuthorizationCodeMixin over a redeemed code row."""

    def __init__(self, row: AuthorizationCode, grant: Grant, account: Account | None) -> None:
        self.row, self.grant, self.account = row, grant, account
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope

    def get_nonce(self) -> str | None:
        return self.row.nonce

    def get_auth_time(self) -> int:
        return int(aware(self.grant.auth_time).timestamp())

    def get_acr(self) -> str:
        return self.grant.acr

    def get_amr(self) -> list[str]:
        return list(self.grant.amr or [])


class RefreshTokenGrant(_Issuing, grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str):
        session = self.runtime.db()
        found = session.execute(_FIND_REFRESH, {"digest": secrets.digest(refresh_token)}).first()
        client = self.request.client
        if found is None or found[0].client_id != client.get_client_id():
            return None
        row, grant, account = found
        moment = now()
        if row.revoked_at is not None or grant is None or grant.revoked_at is not None \
                or aware(row.expires_at) <= moment:
            return None
        requested = self.request.payload.scope
        if requested and not set(scope_to_list(requested)) <= set(scope_to_list(row.scope)):
            raise InvalidScopeError()  # before rotating: a refused request must not burn the token
        claimed = session.connection().execute(_ROTATE, {"row_digest": row.digest, "moment": moment}).rowcount
        if not claimed:
            session.refresh(row)
            grace = timedelta(seconds=self.runtime.settings.refresh_grace_seconds)
            within_grace = bool(grace and row.rotated_at and moment - aware(row.rotated_at) <= grace)
            if within_grace:  # one concurrent retry is tolerated, not a stream of replays
                successors = session.scalar(select(func.count()).select_from(RefreshToken).where(
                    RefreshToken.grant_id == grant.id, RefreshToken.issued_at >= row.rotated_at))
                within_grace = successors < 2
            if not within_grace:
                revoke_grant(session, grant.id)  # reuse of a rotated token: the family is compromised
                audit.record(session, "token", "refresh_token_reused", account_id=grant.account_id,
                             client_id=grant.client_id, ip=self.runtime.client_ip())
                self.runtime.extras["commit_on_error"] = True
                return None
        return StoredRefreshToken(row, grant, account)

    def authenticate_user(self, refresh_token):
        account = refresh_token.account
        return account if account and account.disabled_at is None else None

    def generate_token(self, user=None, scope=None, grant_type=None, expires_in=None, include_refresh_token=True):
        grant = self.request.refresh_token.grant
        token = self._respond(grant, scope, account=user, include_refresh_token=True)
        audit.record(self.runtime.db(), "token", "refreshed", account_id=user.id, client_id=grant.client_id,
                     ip=self.runtime.client_ip())
        return token

    def revoke_old_credential(self, refresh_token) -> None:
        """Already marked rotated when it was redeemed."""

    def save_token(self, token) -> None:
        """Tokens are persisted as they are issued."""


class StoredRefreshToken:
    def __init__(self, row: RefreshToken, grant: Grant, account: Account | None) -> None:
        self.row, self.grant, self.account = row, grant, account

    def check_client(self, client) -> bool:
        return self.row.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return self.row.scope


class ClientCredentialsGrant(_Issuing, grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]

    def create_token_response(self):
        client = self.request.client
        requested = self.request.payload.scope
        allowed = set(scope_to_list(client.row.scope) or [])
        if requested:
            wanted = scope_to_list(requested)
            if not all(scope_rules.covered_by(s, allowed) for s in wanted):
                raise InvalidScopeError("The client may not request that scope.")
            scope = " ".join(wanted)
        else:
            scope = client.row.scope
        token = self._respond(None, scope, account=None, include_refresh_token=False)
        return 200, token, self.TOKEN_RESPONSE_HEADER


def grants_of_session(session, session_id: str) -> list[Grant]:
    return list(session.scalars(select(Grant).where(Grant.session_id == session_id, Grant.revoked_at.is_(None))).all())
