"""UserInfo, revocation (RFC 7009) and introspection (RFC 7662)."""
from __future__ import annotations

import pytest

from tests.identity.steps import bearer, decode, login_and_exchange, refresh


@pytest.fixture
def signed_in(browser, api, make_client, make_account):
    client, account = make_client(), make_account(email="info@example.org")
    token, _ = login_and_exchange(browser, api, client, account, scope="openid profile email")
    return client, account, token


@pytest.mark.parametrize("method", ["GET", "POST-header", "POST-form"])
def test_userinfo_answers_get_and_post(api, signed_in, method):
    client, account, token = signed_in
    if method == "GET":
        response = api.get("/userinfo", headers=bearer(token["access_token"]))
    elif method == "POST-header":
        response = api.post("/userinfo", headers=bearer(token["access_token"]))
    else:
        response = api.post("/userinfo", data={"access_token": token["access_token"]})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    info = response.json
    assert info["sub"] == decode(api, token["id_token"]).claims["sub"]
    assert info["email"] == "info@example.org" and info["preferred_username"] == account.username


@pytest.mark.parametrize("headers, status, error", [
    ({}, 401, None),
    ({"Authorization": "Bearer not-a-token"}, 401, "invalid_token"),
    ({"Authorization": "Basic dXNlcjpwYXNz"}, 401, None),
])
def test_userinfo_refusals_carry_www_authenticate(api, headers, status, error):
    response = api.get("/userinfo", headers=headers)
    challenge = response.headers["WWW-Authenticate"]
    assert response.status_code == status and challenge.startswith("Bearer")
    if error:
        assert f'error="{error}"' in challenge
    else:
        assert "error=" not in challenge, "RFC 6750 §3: no error code when no token was sent"


def test_userinfo_refuses_a_token_without_openid(browser, api, make_client, make_account):
    client = make_client(scope="openid profile email patient/*.rs")
    token, _ = login_and_exchange(browser, api, client, make_account(), scope="patient/*.rs")
    response = api.get("/userinfo", headers=bearer(token["access_token"]))
    assert response.status_code == 403 and 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


def test_userinfo_refuses_a_forged_token(api, signed_in):
    _, _, token = signed_in
    header, payload, signature = token["access_token"].split(".")
    forged = f"{header}.{payload}.{signature[::-1]}"
    assert api.get("/userinfo", headers=bearer(forged)).status_code == 401


def test_revoking_the_refresh_token_revokes_the_grant(api, signed_in):
    client, _, token = signed_in
    response = api.post("/revoke", data={"token": token["refresh_token"], "token_type_hint": "refresh_token"},
                        auth=(client.client_id, client.secret))
    assert response.status_code == 200
    assert refresh(api, client, token["refresh_token"]).json["error"] == "invalid_grant"
    assert api.get("/userinfo", headers=bearer(token["access_token"])).status_code == 401


def test_revoking_the_access_token(api, signed_in):
    client, _, token = signed_in
    assert api.post("/revoke", data={"token": token["access_token"]}, auth=(client.client_id, client.secret)).status_code == 200
    assert api.get("/userinfo", headers=bearer(token["access_token"])).status_code == 401
    assert api.post("/introspect", data={"token": token["access_token"]},
                    auth=(client.client_id, client.secret)).json == {"active": False}


def test_revoking_an_unknown_token_is_ok(api, make_client):
    client = make_client()
    assert api.post("/revoke", data={"token": "nothing-like-a-token"}, auth=(client.client_id, client.secret)).status_code == 200


def test_another_clients_token_cannot_be_revoked(api, signed_in, make_client):
    _, _, token = signed_in
    other = make_client()
    response = api.post("/revoke", data={"token": token["refresh_token"]}, auth=(other.client_id, other.secret))
    assert response.status_code == 400
    owner = signed_in[0]
    assert refresh(api, owner, token["refresh_token"]).status_code == 200


def test_revocation_needs_client_authentication(api, signed_in):
    _, _, token = signed_in
    response = api.post("/revoke", data={"token": token["refresh_token"]})
    assert response.status_code in (400, 401) and response.json["error"] == "invalid_client"


def test_introspection_of_own_tokens(api, signed_in):
    client, _, token = signed_in
    access = api.post("/introspect", data={"token": token["access_token"]}, auth=(client.client_id, client.secret)).json
    assert access["active"] is True and access["client_id"] == client.client_id
    assert access["scope"] == token["scope"] and access["sub"]
    rt = api.post("/introspect", data={"token": token["refresh_token"], "token_type_hint": "refresh_token"},
                  auth=(client.client_id, client.secret)).json
    assert rt["active"] is True and rt["client_id"] == client.client_id


def test_resource_server_introspects_any_token_others_learn_nothing(api, signed_in, make_client):
    _, _, token = signed_in
    records = make_client(redirect_uris=[], scope="records:introspect", grant_types=["client_credentials"])
    stranger = make_client()
    assert api.post("/introspect", data={"token": token["access_token"]},
                    auth=(records.client_id, records.secret)).json["active"] is True
    assert api.post("/introspect", data={"token": token["access_token"]},
                    auth=(stranger.client_id, stranger.secret)).json == {"active": False}


def test_introspection_of_garbage_is_inactive(api, make_client):
    client = make_client()
    assert api.post("/introspect", data={"token": "garbage.garbage.garbage"},
                    auth=(client.client_id, client.secret)).json == {"active": False}
