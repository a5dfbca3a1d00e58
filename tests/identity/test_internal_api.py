"""The internal API registration uses (``identity:accounts``): create accounts, link practice patients."""
from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from services.identity.db.models import Account, PatientLink
from tests.identity.conftest import PASSWORD
from tests.identity.steps import bearer, decode, login_and_exchange

SMART_SCOPE = "openid launch/patient patient/*.rs"


def service_token(api, make_client, scope: str) -> str:
    client = make_client(redirect_uris=[], scope=scope, grant_types=["client_credentials"])
    response = api.post("/token", data={"grant_type": "client_credentials"}, auth=(client.client_id, client.secret))
    assert response.status_code == 200, response.json
    return response.json["access_token"]


@pytest.fixture
def registration(api, make_client) -> dict:
    return bearer(service_token(api, make_client, "identity:accounts"))


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def problem(response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "application/problem+json"
    return response.json


def stored_account(identity_db, account_id: str) -> Account | None:
    with identity_db() as session:
        return session.get(Account, account_id)


def test_create_account_returns_it_without_the_password(api, registration, identity_db):
    username = unique("Pat.Lee")
    response = api.post("/internal/accounts", headers=registration, json={
        "username": username, "password": PASSWORD, "email": "pat@example.org", "given_name": "Pat",
        "family_name": "Lee"})
    assert response.status_code == 201, response.json
    body = response.json
    assert body["id"] and body["username"] == username and body["email"] == "pat@example.org"
    assert body["given_name"] == "Pat" and body["family_name"] == "Lee"
    assert not any("password" in key or "hash" in key for key in body)
    text = response.get_data(as_text=True)
    assert PASSWORD not in text and "$argon2" not in text

    row = stored_account(identity_db, body["id"])
    assert row.username == username and row.password_hash.startswith("$argon2id$")
    assert PASSWORD not in row.password_hash


def test_duplicate_username_is_a_conflict_whatever_its_case(api, registration, identity_db):
    username = unique("Sam.Lee")
    assert api.post("/internal/accounts", headers=registration,
                    json={"username": username, "password": PASSWORD}).status_code == 201
    for again in (username, username.upper(), f"  {username.lower()}  "):
        body = problem(api.post("/internal/accounts", headers=registration,
                                json={"username": again, "password": "another password"}), 409)
        assert body["status"] == 409 and body["detail"]
    with identity_db() as session:
        keys = session.scalars(select(Account.username_key).where(Account.username_key == username.casefold())).all()
    assert len(keys) == 1


def test_invalid_account_input_is_a_400_problem(api, registration):
    missing = problem(api.post("/internal/accounts", headers=registration, json={"password": PASSWORD}), 400)
    assert "username" in missing["errors"]
    bad_email = problem(api.post("/internal/accounts", headers=registration,
                                 json={"username": unique("x"), "email": "not-an-email"}), 400)
    assert "email" in bad_email["errors"]
    extra = problem(api.post("/internal/accounts", headers=registration,
                             json={"username": unique("x"), "password_hash": "$argon2id$forged"}), 400)
    assert "password_hash" in extra["errors"]
    problem(api.post("/internal/accounts", headers=registration, data="username=x",
                     content_type="application/json"), 400)


def test_blank_username_is_invalid_not_a_conflict(api, registration):
    body = problem(api.post("/internal/accounts", headers=registration,
                            json={"username": "   ", "password": PASSWORD}), 400)
    assert body["code"] == "invalid_request"


def test_link_a_patient_then_sign_in_with_patient_context(api, browser, registration, make_client, identity_db):
    practice, patient = unique("practice"), unique("patient")
    username = unique("Alex")
    account = api.post("/internal/accounts", headers=registration,
                       json={"username": username, "password": PASSWORD}).json

    linked = api.post(f"/internal/accounts/{account['id']}/links", headers=registration, json={
        "practice_id": practice, "patient_id": patient, "display_name": "Alex Doe"})
    assert linked.status_code == 201, linked.json
    assert linked.json["practice_id"] == practice and linked.json["patient_id"] == patient
    assert linked.json["relationship"] == "self" and linked.json["display_name"] == "Alex Doe"

    listed = api.get(f"/internal/accounts/{account['id']}/links", headers=registration)
    assert listed.status_code == 200
    assert [(link["practice_id"], link["patient_id"]) for link in listed.json] == [(practice, patient)]
    with identity_db() as session:
        assert session.scalars(select(PatientLink.patient_id).where(
            PatientLink.account_id == account["id"])).all() == [patient]

    portal = make_client(practice_id=practice, scope=SMART_SCOPE)
    token, _ = login_and_exchange(browser, api, portal, SimpleNamespace(username=username), scope=SMART_SCOPE)
    assert token["patient"] == patient
    assert decode(api, token["access_token"]).claims["patient"] == patient
    assert set(token["scope"].split()) == set(SMART_SCOPE.split())


def test_proxy_link_and_relinking_is_idempotent(api, registration):
    account = api.post("/internal/accounts", headers=registration,
                       json={"username": unique("Guardian"), "password": PASSWORD}).json
    path = f"/internal/accounts/{account['id']}/links"
    practice = unique("practice")
    first = api.post(path, headers=registration, json={
        "practice_id": practice, "patient_id": "child-1", "display_name": "Kid", "relationship": "proxy"})
    assert first.status_code == 201 and first.json["relationship"] == "proxy"
    again = api.post(path, headers=registration, json={
        "practice_id": practice, "patient_id": "child-1", "display_name": "Kid Doe", "relationship": "proxy"})
    assert again.status_code in (200, 201) and again.json["id"] == first.json["id"]
    listed = api.get(path, headers=registration).json
    assert [(link["patient_id"], link["display_name"]) for link in listed] == [("child-1", "Kid Doe")]
    bad = problem(api.post(path, headers=registration, json={
        "practice_id": practice, "patient_id": "x", "display_name": "X", "relationship": "cousin"}), 400)
    assert "relationship" in bad["errors"]
    missing = problem(api.post(path, headers=registration, json={"practice_id": practice, "patient_id": "x"}), 400)
    assert "display_name" in missing["errors"]


def test_unknown_account_is_404(api, registration):
    missing = f"/internal/accounts/{uuid.uuid4()}/links"
    assert problem(api.get(missing, headers=registration), 404)["code"] == "not_found"
    body = problem(api.post(missing, headers=registration, json={
        "practice_id": "p1", "patient_id": "x", "display_name": "X"}), 404)
    assert body["code"] == "not_found"


def test_internal_api_needs_the_accounts_scope(api, make_client, identity_db):
    admin = bearer(service_token(api, make_client, "identity:admin"))
    username = unique("Nobody")
    response = api.post("/internal/accounts", headers=admin, json={"username": username, "password": PASSWORD})
    assert response.status_code == 403
    challenge = response.headers["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge and 'scope="identity:accounts"' in challenge
    with identity_db() as session:
        assert session.scalar(select(Account).where(Account.username_key == username.casefold())) is None
    assert api.get(f"/internal/accounts/{uuid.uuid4()}/links", headers=admin).status_code == 403

    anonymous = api.post("/internal/accounts", json={"username": username, "password": PASSWORD})
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    forged = api.post("/internal/accounts", headers=bearer("abc.def.ghi"), json={"username": username})
    assert forged.status_code == 401 and 'error="invalid_token"' in forged.headers["WWW-Authenticate"]


def test_internal_api_refuses_a_user_access_token(api, browser, make_client, make_account):
    portal = make_client(scope="openid profile identity:accounts")
    token, _ = login_and_exchange(browser, api, portal, make_account(), scope="openid identity:accounts")
    assert "identity:accounts" in token["scope"].split()
    response = api.post("/internal/accounts", headers=bearer(token["access_token"]),
                        json={"username": unique("viaUser"), "password": PASSWORD})
    assert response.status_code == 401


def test_weak_password_is_refused_with_reasons(api, make_client):
    client = make_client(redirect_uris=[], scope="identity:accounts", grant_types=["client_credentials"])
    token = api.post("/token", data={"grant_type": "client_credentials"}, auth=(client.client_id, client.secret)).json
    response = api.post("/internal/accounts", headers={"Authorization": f"Bearer {token['access_token']}"},
                        json={"username": "weak-pass-user", "password": "password"})
    assert response.status_code == 400 and response.mimetype == "application/problem+json"
    assert any("breach" in p for p in response.json["errors"]["password"])
