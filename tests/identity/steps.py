"""Protocol steps for identity tests: exchange a code, refresh, decode tokens, read JWKS."""
from __future__ import annotations

import base64
import hashlib

from joserfc import jwt
from joserfc.jwk import KeySet

from tests.identity.conftest import callback_params, pkce_pair


def exchange(api, client, code: str, verifier: str | None = None, **extra):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": client.redirect_uri, **extra}
    if verifier:
        data["code_verifier"] = verifier
    auth = (client.client_id, client.secret) if client.secret else None
    if auth is None:
        data["client_id"] = client.client_id
    return api.post("/token", data=data, auth=auth)


def refresh(api, client, refresh_token: str):
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    auth = (client.client_id, client.secret) if client.secret else None
    if auth is None:
        data["client_id"] = client.client_id
    return api.post("/token", data=data, auth=auth)


def login_and_exchange(browser, api, client, account, **params):
    """The whole code flow with PKCE; returns the token response JSON and the authorization query."""
    verifier, challenge = pkce_pair()
    response, query = browser.sign_in(client, account.username, code_challenge=challenge,
                                      code_challenge_method="S256", **params)
    code = callback_params(response)["code"]
    token = exchange(api, client, code, verifier)
    assert token.status_code == 200, token.json
    return token.json, query


def keyset(api) -> KeySet:
    return KeySet.import_key_set(api.get("/.well-known/jwks.json").json)


def decode(api, token: str):
    return jwt.decode(token, keyset(api), algorithms=["ES256", "RS256"])


def half_hash(value: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(value.encode()).digest()[:16]).rstrip(b"=").decode()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}
