"""The account's security page: change password, devices (new-device emails, remembered devices),
recent activity."""
from __future__ import annotations

import json

from sqlalchemy import select

from services.identity.db.models import outbox
from tests.identity.conftest import PASSWORD, Browser, callback_params
from tests.identity.steps import login_and_exchange, refresh
from tests.identity.test_second_factor import enrol, next_code, second_factor_page, submit_code

NEW = "another long and memorable passphrase"


def alerts(identity_db, email: str, event: str) -> int:
    with identity_db() as session:
        bodies = [json.loads(b) for b in session.scalars(select(outbox.c.body)).all()]
    return sum(1 for b in bodies if b["payload"].get("recipient", {}).get("email") == email
               and b["payload"].get("variables", {}).get("event") == event)


def test_change_password_keeps_this_session_and_ends_the_others(identity_app, make_client, make_account, api,
                                                                  identity_db):
    client, account = make_client(), make_account(email="changer@example.org")
    here, elsewhere = Browser(identity_app), Browser(identity_app)
    token, _ = login_and_exchange(here, api, client, account)
    other, _ = login_and_exchange(elsewhere, api, client, account)
    form = {"current": PASSWORD, "password": NEW, "confirm": NEW, "csrf_token": here.csrf()}
    assert here.http.post("/account/security/password", data={**form, "current": "wrong"}).status_code == 401
    weak = here.http.post("/account/security/password", data={**form, "password": "password", "confirm": "password"})
    assert weak.status_code == 400 and "breach" in weak.get_data(as_text=True)
    assert here.http.post("/account/security/password", data=form).status_code == 303
    assert "code" in callback_params(here.authorize(client, prompt="none")[0]), "this browser stays signed in"
    assert callback_params(elsewhere.authorize(client, prompt="none")[0])["error"] == "login_required"
    assert refresh(api, client, other["refresh_token"]).json["error"] == "invalid_grant"
    assert alerts(identity_db, "changer@example.org", "password_changed") == 1


def test_a_new_device_is_reported_once(identity_app, make_client, make_account, identity_db):
    client, account = make_client(), make_account(email="devices@example.org")
    browser = Browser(identity_app)
    browser.sign_in(client, account.username)
    browser.sign_in(client, account.username, prompt="login")
    assert alerts(identity_db, "devices@example.org", "new_sign_in") == 1
    Browser(identity_app).sign_in(client, account.username)
    assert alerts(identity_db, "devices@example.org", "new_sign_in") == 2


def test_remembered_device_skips_the_second_factor_until_forgotten(identity_app, make_client, make_account):
    browser, client, account = Browser(identity_app), make_client(), make_account()
    secret, _ = enrol(browser, client, account)
    page = second_factor_page(browser, client, account.username)
    uid = page.request.path.rsplit("/", 1)[-1]
    browser.http.post(f"/interaction/{uid}/second-factor", data={"code": next_code(secret), "remember": "yes",
                                                                 "csrf_token": browser.csrf()})
    again = browser.follow(browser.login(browser.follow(browser.authorize(client, prompt="login")[0]),
                                         account.username))
    assert "code" in callback_params(again), "no second factor on a remembered device"
    elsewhere = Browser(identity_app)
    asked = elsewhere.follow(elsewhere.login(elsewhere.follow(elsewhere.authorize(client)[0]), account.username))
    assert "Enter your code" in asked.get_data(as_text=True)
    security = browser.http.get("/account/security/").get_data(as_text=True)
    assert "remembered" in security and "Recent sign-in activity" in security
    import re
    key = re.search(r'/account/security/devices/([0-9a-f]{64})/forget', security).group(1)
    browser.http.post(f"/account/security/devices/{key}/forget", data={"csrf_token": browser.csrf()})
    forgotten = browser.follow(browser.login(browser.follow(browser.authorize(client, prompt="login")[0]),
                                             account.username))
    assert "Enter your code" in forgotten.get_data(as_text=True)
    _ = submit_code


def test_a_forged_device_cookie_is_ignored(identity_app, make_client, make_account):
    browser, client, account = Browser(identity_app), make_client(), make_account()
    enrol(browser, client, account)
    forged = Browser(identity_app)
    forged.http.set_cookie("carekey_device", "eyJkIjoiZm9yZ2VkIn0.not-a-signature")
    asked = forged.follow(forged.login(forged.follow(forged.authorize(client)[0]), account.username))
    assert "Enter your code" in asked.get_data(as_text=True)
