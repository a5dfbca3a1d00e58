"""The token endpoint: ID and access tokens, code replay, refresh rotation and reuse, client auth."""
from __future__ import annotations

import time
import uuid

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from tests.identity.conftest import callback_params, pkce_pair
from tests.identity.steps import bearer, decode, exchange, half_hash, login_and_exchange, refresh


def test_id_token_has_the_oidc_claims_signed_es256_with_kid(browser, api, make_client, make_account, suite):
    client, account = make_client(), make_account()
    token, query = login_and_exchange(browser, api, client, account)
    decoded = decode(api, token["id_token"])
    claims = decoded.claims
    assert decoded.header["alg"] == "ES256" and decoded.header["kid"]
    assert claims["iss"] == suite.settings["identity"].public_url and claims["aud"] == client.client_id
    assert claims["nonce"] == query["nonce"] and claims["at_hash"] == half_hash(token["access_token"])
    assert claims["sid"] and claims["amr"] == ["pwd"] and claims["acr"] == "urn:carekey:acr:password"
    assert abs(claims["auth_time"] - time.time()) < 60 and claims["exp"] > time.time()


def test_rs256_per_client(browser, api, make_client, make_account):
    client = make_client(id_token_signed_response_alg="RS256")
    token, _ = login_and_exchange(browser, api, client, make_account())
    assert decode(api, token["id_token"]).header["alg"] == "RS256"


def test_access_token_is_an_rfc9068_jwt(browser, api, make_client, make_account, suite):
    client, account = make_client(), make_account()
    token, _ = login_and_exchange(browser, api, client, account)
    decoded = decode(api, token["access_token"])
    assert decoded.header["typ"] == "at+jwt" and decoded.header["kid"]
    claims = decoded.claims
    assert claims["client_id"] == client.client_id and claims["scope"] == token["scope"] and claims["jti"]
    assert claims["aud"] == suite.settings["identity"].records_audience
    assert claims["sub"] == decode(api, token["id_token"]).claims["sub"]
    assert token["token_type"] == "Bearer" and token["expires_in"] > 0 and token["refresh_token"]


def test_pairwise_subjects_differ_between_sectors_and_public_is_stable(browser, api, make_client, make_account):
    account = make_account()
    practice_a = make_client(redirect_uris=["https://a.example/cb"])
    practice_b = make_client(redirect_uris=["https://b.example/cb"])
    same_sector = make_client(redirect_uris=["https://a.example/other"])
    public = make_client(redirect_uris=["https://c.example/cb"], subject_type="public")
    subs = {}
    for name, client in [("a", practice_a), ("b", practice_b), ("a2", same_sector), ("public", public)]:
        token, _ = login_and_exchange(browser, api, client, account)
        subs[name] = decode(api, token["id_token"]).claims["sub"]
    assert subs["a"] != subs["b"] and subs["a"] == subs["a2"]
    assert subs["public"] == account.id


def test_reused_code_fails_and_revokes_what_it_issued(browser, api, make_client, make_account):
    client, account = make_client(), make_account()
    verifier, challenge = pkce_pair()
    response, _ = browser.sign_in(client, account.username, code_challenge=challenge, code_challenge_method="S256")
    code = callback_params(response)["code"]
    first = exchange(api, client, code, verifier)
    assert first.status_code == 200
    second = exchange(api, client, code, verifier)
    assert second.status_code == 400 and second.json["error"] == "invalid_grant"
    assert refresh(api, client, first.json["refresh_token"]).json["error"] == "invalid_grant"
    assert api.get("/userinfo", headers=bearer(first.json["access_token"])).status_code == 401
    introspected = api.post("/introspect", data={"token": first.json["access_token"]},
                            auth=(client.client_id, client.secret)).json
    assert introspected == {"active": False}


@pytest.mark.parametrize("tamper", ["verifier", "redirect_uri", "client"])
def test_code_exchange_rejections(browser, api, make_client, make_account, tamper):
    client, account = make_client(), make_account()
    other = make_client()
    verifier, challenge = pkce_pair()
    response, _ = browser.sign_in(client, account.username, code_challenge=challenge, code_challenge_method="S256")
    code = callback_params(response)["code"]
    if tamper == "verifier":
        result = exchange(api, client, code, pkce_pair()[0])
    elif tamper == "redirect_uri":
        result = exchange(api, client, code, verifier, redirect_uri="https://elsewhere.example/cb")
    else:
        result = exchange(api, other, code, verifier)
    assert result.status_code == 400 and result.json["error"] == "invalid_grant"


def test_wrong_client_secret_is_invalid_client(api, make_client):
    client = make_client()
    response = api.post("/token", data={"grant_type": "authorization_code", "code": "x",
                                        "redirect_uri": client.redirect_uri}, auth=(client.client_id, "wrong"))
    assert response.status_code == 401 and response.json["error"] == "invalid_client"
    assert "WWW-Authenticate" in response.headers or response.status_code == 401


def test_confidential_client_cannot_skip_authentication(api, make_client):
    client = make_client()
    response = api.post("/token", data={"grant_type": "authorization_code", "code": "x",
                                        "redirect_uri": client.redirect_uri, "client_id": client.client_id})
    assert response.json["error"] == "invalid_client"


def test_client_secret_post(browser, api, make_client, make_account):
    client = make_client(token_endpoint_auth_method="client_secret_post")
    verifier, challenge = pkce_pair()
    response, _ = browser.sign_in(client, make_account().username, code_challenge=challenge,
                                  code_challenge_method="S256")
    result = api.post("/token", data={"grant_type": "authorization_code", "code": callback_params(response)["code"],
                                      "redirect_uri": client.redirect_uri, "code_verifier": verifier,
                                      "client_id": client.client_id, "client_secret": client.secret})
    assert result.status_code == 200, result.json


def test_public_client_with_pkce(browser, api, make_client, make_account):
    client = make_client(public=True)
    token, _ = login_and_exchange(browser, api, client, make_account())
    assert token["access_token"]


def test_refresh_rotates_and_reuse_revokes_the_whole_grant(browser, api, make_client, make_account):
    client, account = make_client(), make_account()
    token, _ = login_and_exchange(browser, api, client, account)
    rotated = refresh(api, client, token["refresh_token"])
    assert rotated.status_code == 200 and rotated.json["refresh_token"] != token["refresh_token"]
    assert rotated.json["access_token"] != token["access_token"]
    reuse = refresh(api, client, token["refresh_token"])
    assert reuse.status_code == 400 and reuse.json["error"] == "invalid_grant"
    assert refresh(api, client, rotated.json["refresh_token"]).json["error"] == "invalid_grant", \
        "the reuse revoked the newer token too"
    assert api.get("/userinfo", headers=bearer(rotated.json["access_token"])).status_code == 401


def test_refresh_token_of_another_client_is_refused_without_burning_it(browser, api, make_client, make_account):
    client, other, account = make_client(), make_client(), make_account()
    token, _ = login_and_exchange(browser, api, client, account)
    assert refresh(api, other, token["refresh_token"]).json["error"] == "invalid_grant"
    assert refresh(api, client, token["refresh_token"]).status_code == 200


def test_refresh_cannot_widen_scope(browser, api, make_client, make_account):
    client, account = make_client(), make_account()
    token, _ = login_and_exchange(browser, api, client, account, scope="openid email")
    widened = api.post("/token", data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"],
                                       "scope": "openid email profile"}, auth=(client.client_id, client.secret))
    assert widened.json["error"] == "invalid_scope"


def test_client_credentials_limited_to_registered_scopes(api, make_client):
    service = make_client(redirect_uris=[], scope="identity:accounts", grant_types=["client_credentials"])
    granted = api.post("/token", data={"grant_type": "client_credentials"}, auth=(service.client_id, service.secret))
    assert granted.status_code == 200 and granted.json["scope"] == "identity:accounts"
    assert "refresh_token" not in granted.json
    claims = decode(api, granted.json["access_token"]).claims
    assert claims["sub"] == service.client_id and claims["client_id"] == service.client_id
    wider = api.post("/token", data={"grant_type": "client_credentials", "scope": "identity:admin"},
                     auth=(service.client_id, service.secret))
    assert wider.status_code == 400 and wider.json["error"] == "invalid_scope"


def test_code_client_cannot_use_client_credentials(api, make_client):
    client = make_client()
    response = api.post("/token", data={"grant_type": "client_credentials"}, auth=(client.client_id, client.secret))
    assert response.json["error"] == "unauthorized_client"


def test_unknown_grant_type(api, make_client):
    client = make_client()
    response = api.post("/token", data={"grant_type": "password", "username": "a", "password": "b"},
                        auth=(client.client_id, client.secret))
    assert response.status_code == 400 and response.json["error"] == "unsupported_grant_type"


def test_private_key_jwt_client_authentication(api, make_client, suite):
    key = ECKey.generate_key("P-256", private=True)
    public = {**key.as_dict(private=False), "kid": "k1", "alg": "ES256", "use": "sig"}
    service = make_client(redirect_uris=[], scope="identity:accounts", grant_types=["client_credentials"],
                          jwks={"keys": [public]})
    issuer = suite.settings["identity"].public_url

    def assertion(jti: str) -> str:
        now = int(time.time())
        return jwt.encode({"alg": "ES256", "kid": "k1"}, {"iss": service.client_id, "sub": service.client_id,
                          "aud": f"{issuer}/token", "iat": now, "exp": now + 60, "jti": jti}, key)

    form = {"grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
    jti = uuid.uuid4().hex
    ok = api.post("/token", data={**form, "client_assertion": assertion(jti)})
    assert ok.status_code == 200, ok.json
    replay = api.post("/token", data={**form, "client_assertion": assertion(jti)})
    assert replay.json["error"] == "invalid_client"
    forged_key = ECKey.generate_key("P-256", private=True)
    now = int(time.time())
    forged = jwt.encode({"alg": "ES256", "kid": "k1"}, {"iss": service.client_id, "sub": service.client_id,
                        "aud": f"{issuer}/token", "iat": now, "exp": now + 60, "jti": uuid.uuid4().hex}, forged_key)
    assert api.post("/token", data={**form, "client_assertion": forged}).json["error"] == "invalid_client"


def test_token_responses_are_not_cached(browser, api, make_client, make_account):
    client = make_client()
    response = api.post("/token", data={"grant_type": "client_credentials"}, auth=(client.client_id, client.secret))
    assert response.headers["Cache-Control"] == "no-store"


def test_disabled_client_cannot_get_tokens(api, make_client, identity_db):
    from services.identity.db.models import Client
    from shared.database import transaction
    service = make_client(redirect_uris=[], scope="identity:accounts", grant_types=["client_credentials"])
    with transaction(identity_db) as session:
        session.get(Client, service.client_id).disabled_at = __import__("datetime").datetime.now(
            __import__("datetime").timezone.utc)
    response = api.post("/token", data={"grant_type": "client_credentials"}, auth=(service.client_id, service.secret))
    assert response.json["error"] == "invalid_client"
