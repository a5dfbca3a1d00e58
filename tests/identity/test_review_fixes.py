"""Regression tests for the security review: lock-out abuse, claims without consent, refused
refreshes, malformed inputs, recovery flooding, re-authentication limits, form_post framing."""
from __future__ import annotations

import json
import uuid

from sqlalchemy import select

from services.identity.db.models import outbox
from tests.identity.conftest import PASSWORD, Browser, callback_params
from tests.identity.steps import bearer, decode, login_and_exchange, refresh
from tests.identity.test_lockout import WRONG, attempt, strict_app  # noqa: F401  (a fixture)


def test_refused_attempts_do_not_count_toward_the_account_ceiling(strict_app, make_client, make_account):
    client, account = make_client(), make_account()
    attacker = Browser(strict_app)
    for _ in range(30):  # one IP: 5 checked, the rest refused without a check
        attempt(attacker, client, account.username, WRONG, ip="10.7.7.7")
    owner = attempt(Browser(strict_app), client, account.username, PASSWORD, ip="10.7.7.8")
    assert owner.status_code == 303, "the owner elsewhere is not locked out by refused attempts"


def test_claims_parameter_cannot_reach_beyond_registered_scopes(browser, api, make_client, make_account):
    client = make_client(first_party=False, scope="openid profile")
    account = make_account(email="private@example.org", phone="+15555550100")
    claims = json.dumps({"userinfo": {"email": None, "phone_number": None}, "id_token": {"email": None}})
    response, _ = browser.authorize(client, scope="openid", claims=claims)
    page = browser.follow(browser.login(browser.follow(response), account.username))
    if page.status_code == 200:  # the consent page, for what the client may ask
        uid = page.request.path.rsplit("/", 1)[-1]
        assert "email" not in page.get_data(as_text=True).lower()
        page = browser.follow(browser.http.post(f"/interaction/{uid}/consent",
                                                data={"decision": "allow", "csrf_token": browser.csrf()}))
    code = callback_params(page)["code"]
    token = api.post("/token", data={"grant_type": "authorization_code", "code": code,
                                     "redirect_uri": client.redirect_uri}, auth=(client.client_id, client.secret)).json
    assert "email" not in decode(api, token["id_token"]).claims
    info = api.get("/userinfo", headers=bearer(token["access_token"])).json
    assert "email" not in info and "phone_number" not in info


def test_claims_for_a_registered_scope_need_consent_from_a_third_party(browser, make_client, make_account):
    client = make_client(first_party=False, scope="openid email")
    account = make_account()
    response, _ = browser.authorize(client, scope="openid", claims=json.dumps({"userinfo": {"email": None}}))
    page = browser.follow(browser.login(browser.follow(response), account.username))
    assert page.status_code == 200 and "Your email address" in page.get_data(as_text=True)


def test_a_refused_refresh_does_not_burn_the_token(browser, api, make_client, make_account):
    client, account = make_client(), make_account()
    token, _ = login_and_exchange(browser, api, client, account, scope="openid email")
    widened = api.post("/token", data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"],
                                       "scope": "openid email phone"}, auth=(client.client_id, client.secret))
    assert widened.json["error"] == "invalid_scope"
    assert refresh(api, client, token["refresh_token"]).status_code == 200


def test_odd_inputs_are_errors_not_crashes(browser, make_client, make_account):
    client, account = make_client(), make_account()
    browser.sign_in(client, account.username)
    for params in ({"max_age": "²"}, {"max_age": "99999999999999999999"},
                   {"claims": json.dumps({"id_token": {"acr": {"values": 5}}})},
                   {"claims": json.dumps({"id_token": {"acr": {"values": [["x"]]}}})}):
        response, _ = browser.authorize(client, **params)
        assert response.status_code == 302, (params, response.status_code)


def test_finishing_the_same_request_twice_is_an_error_for_the_client(browser, make_client, make_account):
    client, account = make_client(), make_account()
    nonce = uuid.uuid4().hex
    first = browser.follow(browser.authorize(client, nonce=nonce, state="one")[0])
    second = browser.follow(browser.authorize(client, nonce=nonce, state="two")[0])
    callback_params(browser.follow(browser.login(first, account.username)))
    again = browser.http.get(second.request.path)
    assert again.status_code == 302 and callback_params(again)["error"] == "invalid_request"


def test_recovery_codes_cannot_flood_a_patient(identity_app, make_account, identity_db):
    account = make_account(email=f"flood-{uuid.uuid4().hex[:6]}@example.org")
    browser = Browser(identity_app)
    browser.http.get("/recover/password")
    for _ in range(8):
        assert browser.http.post("/recover/password", data={"identifier": account.username,
                                                            "csrf_token": browser.csrf()}).status_code == 303
    with identity_db() as session:
        bodies = [json.loads(b) for b in session.scalars(select(outbox.c.body)).all()]
    assert sum(1 for b in bodies if b["payload"].get("recipient") == {"email": account.email}) == 5


def test_current_password_checks_on_the_security_page_are_limited(identity_app, make_client, make_account):
    browser, client, account = Browser(identity_app), make_client(), make_account()
    browser.sign_in(client, account.username)
    form = {"password": "a brand new long passphrase", "confirm": "a brand new long passphrase",
            "csrf_token": browser.csrf()}
    statuses = [browser.http.post("/account/security/password", data={**form, "current": f"guess {n}"}).status_code
                for n in range(6)]
    assert statuses[:4] == [401] * 4 and statuses[-1] == 429
    assert browser.http.post("/account/security/password", data={**form, "current": PASSWORD}).status_code == 429


def test_form_post_page_cannot_be_framed(browser, make_client, make_account):
    client, account = make_client(), make_account()
    response, _ = browser.sign_in(client, account.username, response_mode="form_post")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_a_malformed_authorization_header_is_invalid_client_not_a_crash(api):
    for path in ("/token", "/revoke", "/introspect"):
        for header in ("Bearer ", "Basic", "Basic "):
            response = api.post(path, data={"grant_type": "client_credentials", "token": "x"},
                                headers={"Authorization": header})
            assert response.status_code == 401 and response.json["error"] == "invalid_client", (path, header)
