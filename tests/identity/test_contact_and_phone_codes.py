"""Changing email or phone takes effect only after a code sent to the new address; codes by text
or voice as a restricted fallback second factor (sent through the real message path)."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from services.identity.db.models import Account, outbox
from tests.identity.conftest import Browser, callback_params


def last_code(identity_db, template: str = "verification_code", **recipient) -> str:
    with identity_db() as session:
        bodies = [json.loads(b) for b in session.scalars(select(outbox.c.body).order_by(outbox.c.created_at)).all()]
    matches = [b for b in bodies if b["payload"].get("recipient") == recipient
               and b["payload"].get("template") == template]
    assert matches, f"no code queued for {recipient}"
    return matches[-1]["payload"]["variables"]["code"]


def confirm_phone(browser: Browser, identity_db, phone: str):
    started = browser.http.post("/account/security/contact", data={"phone": phone, "csrf_token": browser.csrf()})
    assert started.status_code == 303
    flow = started.headers["Location"]
    done = browser.http.post(flow, data={"code": last_code(identity_db, phone=phone), "csrf_token": browser.csrf()})
    assert done.status_code == 303


def test_new_email_takes_effect_only_after_its_code(identity_app, make_client, make_account, identity_db):
    browser, client, account = Browser(identity_app), make_client(), make_account(email="old@example.org")
    browser.sign_in(client, account.username)
    started = browser.http.post("/account/security/contact", data={"email": "new@example.org",
                                                                   "csrf_token": browser.csrf()})
    flow = started.headers["Location"]
    with identity_db() as session:
        assert session.get(Account, account.id).email == "old@example.org", "nothing changes before the code"
    stranger = Browser(identity_app)
    assert stranger.http.get(flow).status_code == 410, "another browser cannot use this flow"
    browser.http.post(flow, data={"code": last_code(identity_db, email="new@example.org"), "csrf_token": browser.csrf()})
    with identity_db() as session:
        changed = session.get(Account, account.id)
        bodies = [json.loads(b) for b in session.scalars(select(outbox.c.body)).all()]
    assert changed.email == "new@example.org" and changed.email_verified
    assert any(b["payload"].get("recipient") == {"email": "old@example.org"}
               and b["payload"]["variables"].get("event") == "contact_changed" for b in bodies)


def test_phone_codes_as_a_fallback_second_factor(identity_app, make_client, make_account, identity_db):
    browser, client, account = Browser(identity_app), make_client(), make_account()
    browser.sign_in(client, account.username)
    confirm_phone(browser, identity_db, "+15555550142")
    browser.http.post("/account/security/phone-factor", data={"enabled": "yes", "csrf_token": browser.csrf()})
    fresh = Browser(identity_app)
    page = fresh.follow(fresh.login(fresh.follow(fresh.authorize(client)[0]), account.username))
    text = page.get_data(as_text=True)
    assert "Text me a code" in text and "Call me with a code" in text
    uid = page.request.path.rsplit("/", 1)[-1]
    sent = fresh.http.post(f"/interaction/{uid}/second-factor", data={"action": "voice", "csrf_token": fresh.csrf()})
    assert "We sent a code" in sent.get_data(as_text=True)
    code = last_code(identity_db, phone="+15555550142")
    assert fresh.http.post(f"/interaction/{uid}/second-factor",
                           data={"code": "000000", "csrf_token": fresh.csrf()}).status_code == 401
    ok = fresh.follow(fresh.http.post(f"/interaction/{uid}/second-factor",
                                      data={"code": code, "csrf_token": fresh.csrf()}))
    assert "code" in callback_params(ok)


def test_phone_code_sends_are_limited(identity_app, make_client, make_account, identity_db):
    browser, client, account = Browser(identity_app), make_client(), make_account()
    browser.sign_in(client, account.username)
    confirm_phone(browser, identity_db, "+15555550143")
    browser.http.post("/account/security/phone-factor", data={"enabled": "yes", "csrf_token": browser.csrf()})
    fresh = Browser(identity_app)
    page = fresh.follow(fresh.login(fresh.follow(fresh.authorize(client)[0]), account.username))
    uid = page.request.path.rsplit("/", 1)[-1]
    answers = [fresh.http.post(f"/interaction/{uid}/second-factor", data={"action": "sms", "csrf_token": fresh.csrf()})
               .get_data(as_text=True) for _ in range(4)]
    assert all("We sent a code" in a for a in answers[:3]) and "send more codes" in answers[3]


def test_phone_factor_needs_a_confirmed_phone(identity_app, make_client, make_account):
    browser, client, account = Browser(identity_app), make_client(), make_account()
    browser.sign_in(client, account.username)
    refused = browser.http.post("/account/security/phone-factor", data={"enabled": "yes", "csrf_token": browser.csrf()},
                                headers={"Accept": "application/json"})
    assert refused.status_code == 400


@pytest.mark.parametrize("phone", ["5555550123", "+0123", "not a number"])
def test_bad_phone_numbers_are_refused(identity_app, make_client, make_account, phone):
    browser, client, account = Browser(identity_app), make_client(), make_account()
    browser.sign_in(client, account.username)
    response = browser.http.post("/account/security/contact", data={"phone": phone, "csrf_token": browser.csrf()},
                                 headers={"Accept": "application/json"})
    assert response.status_code == 400 and re.search("phone number", response.json["detail"])
