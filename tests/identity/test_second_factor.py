"""TOTP enrolment by QR code, sign-in with a code or a recovery code, amr/acr, and step-up."""
from __future__ import annotations

import json
import re
import time

import pyotp
import pytest
from sqlalchemy import select

from services.identity.db.models import TotpFactor, outbox
from tests.identity.conftest import Browser, callback_params
from tests.identity.steps import decode, login_and_exchange


def enrol(browser: Browser, client, account) -> tuple[str, list[str]]:
    browser.sign_in(client, account.username)
    page = browser.http.post("/account/security/totp", data={"csrf_token": browser.csrf()})
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "<svg" in text
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', text).group(1)
    done = browser.http.post("/account/security/totp/confirm",
                             data={"code": pyotp.TOTP(secret).now(), "csrf_token": browser.csrf()})
    codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", done.get_data(as_text=True))
    assert done.status_code == 200 and len(codes) == 10
    return secret, codes


def next_code(secret: str) -> str:
    """The code of the next 30-second step: the current one was spent confirming the app."""
    return pyotp.TOTP(secret).at(time.time() + 30)


def second_factor_page(browser: Browser, client, username: str):
    response, query = browser.authorize(client, prompt="login")
    page = browser.follow(browser.login(browser.follow(response), username))
    assert "Enter your code" in page.get_data(as_text=True)
    return page


def submit_code(browser: Browser, page, code: str):
    uid = page.request.path.rsplit("/", 1)[-1]
    return browser.http.post(f"/interaction/{uid}/second-factor", data={"code": code, "csrf_token": browser.csrf()})


@pytest.fixture
def enrolled(identity_app, make_client, make_account):
    browser, client, account = Browser(identity_app), make_client(), make_account()
    secret, codes = enrol(browser, client, account)
    return browser, client, account, secret, codes


def test_secret_is_encrypted_at_rest_and_a_security_email_goes_out(enrolled, identity_db):
    _, _, account, secret, _ = enrolled
    with identity_db() as session:
        row = session.get(TotpFactor, account.id)
        bodies = [json.loads(b) for b in session.scalars(select(outbox.c.body)).all()]
    assert row.confirmed_at and secret not in row.secret_encrypted
    assert any(b["payload"].get("variables", {}).get("event") == "second_factor_changed"
               and b["payload"]["recipient"].get("email") == account.email for b in bodies)


def test_sign_in_needs_the_code_after_the_password(enrolled, api):
    browser, client, account, secret, _ = enrolled
    page = second_factor_page(browser, client, account.username)
    wrong = submit_code(browser, page, "000000")
    assert wrong.status_code == 401 and "not right" in wrong.get_data(as_text=True)
    ok = browser.follow(submit_code(browser, page, next_code(secret)))
    assert "code" in callback_params(ok)


def test_a_code_works_once(enrolled):
    browser, client, account, secret, _ = enrolled
    code = next_code(secret)
    first = second_factor_page(browser, client, account.username)
    assert "code" in callback_params(browser.follow(submit_code(browser, first, code)))
    again = second_factor_page(browser, client, account.username)
    assert submit_code(browser, again, code).status_code == 401


def test_recovery_code_signs_in_once(enrolled):
    browser, client, account, _, codes = enrolled
    page = second_factor_page(browser, client, account.username)
    assert "code" in callback_params(browser.follow(submit_code(browser, page, codes[0].upper())))
    again = second_factor_page(browser, client, account.username)
    assert submit_code(browser, again, codes[0]).status_code == 401


def test_id_token_says_mfa_was_used(enrolled, api):
    browser, client, account, secret, _ = enrolled
    from tests.identity.conftest import pkce_pair
    from tests.identity.steps import exchange
    verifier, challenge = pkce_pair()
    response, _ = browser.authorize(client, prompt="login", code_challenge=challenge, code_challenge_method="S256")
    page = browser.follow(browser.login(browser.follow(response), account.username))
    done = browser.follow(submit_code(browser, page, next_code(secret)))
    token = exchange(api, client, callback_params(done)["code"], verifier).json
    claims = decode(api, token["id_token"]).claims
    assert claims["acr"] == "urn:carekey:acr:mfa" and set(claims["amr"]) >= {"pwd", "otp", "mfa"}


def test_acr_values_demands_a_step_up(identity_app, make_client, make_account, api):
    browser, client, account = Browser(identity_app), make_client(), make_account()
    token, _ = login_and_exchange(browser, api, client, account)
    assert decode(api, token["id_token"]).claims["acr"] == "urn:carekey:acr:password"
    secret, _ = enrol(browser, client, account)
    silent, _ = browser.authorize(client, prompt="none", acr_values="urn:carekey:acr:mfa")
    assert callback_params(silent)["error"] == "login_required", "a password session is not enough"
    response, _ = browser.authorize(client, acr_values="urn:carekey:acr:mfa")
    page = browser.follow(browser.login(browser.follow(response), account.username))
    assert "Enter your code" in page.get_data(as_text=True)


def test_removing_the_app_needs_the_password(enrolled):
    browser, _, account, _, _ = enrolled
    refused = browser.http.post("/account/security/totp/remove", data={"password": "nope", "csrf_token": browser.csrf()})
    assert refused.status_code == 401
    from tests.identity.conftest import PASSWORD
    removed = browser.http.post("/account/security/totp/remove", data={"password": PASSWORD,
                                                                       "csrf_token": browser.csrf()})
    assert removed.status_code == 303


def test_repeated_wrong_codes_lock_like_passwords(enrolled):
    browser, client, account, secret, _ = enrolled
    page = second_factor_page(browser, client, account.username)
    for _ in range(4):
        assert submit_code(browser, page, "123456").status_code == 401
    submit_code(browser, page, "123456")
    assert submit_code(browser, page, next_code(secret)).status_code == 429
