"""Brute force: per (account, IP) lockout after 5 failures, an account-wide ceiling, per-IP limits,
no enumeration, and no slipping past a limit with parallel attempts."""
from __future__ import annotations

import dataclasses
import json
import re
import threading

import pytest
import requests
from sqlalchemy import func, select
from werkzeug.serving import make_server

from services import registry
from services.identity.db.models import AuditEvent, outbox
from tests.identity.conftest import PASSWORD, Browser

WRONG = "definitely not the right password"


def attempt(browser: Browser, client, username: str, password: str, ip: str = "10.1.1.1"):
    page = browser.follow(browser.authorize(client)[0])
    uid = page.request.path.rsplit("/", 1)[-1]
    return browser.http.post(f"/interaction/{uid}/login", environ_base={"REMOTE_ADDR": ip},
                             data={"username": username, "password": password, "csrf_token": browser.csrf()})


def test_five_failures_from_one_ip_lock_that_pair_for_fifteen_minutes(identity_app, make_client, make_account):
    browser, client, account = Browser(identity_app), make_client(), make_account()
    for _ in range(4):
        assert attempt(browser, client, account.username, WRONG).status_code == 401
    fifth = attempt(browser, client, account.username, WRONG)
    assert fifth.status_code == 429 and "paused for 15 minutes" in fifth.get_data(as_text=True)
    locked = attempt(browser, client, account.username, PASSWORD)
    assert locked.status_code == 429 and "paused for 15 minutes" in locked.get_data(as_text=True)
    other_ip = attempt(Browser(identity_app), client, account.username, PASSWORD, ip="10.9.9.9")
    assert other_ip.status_code == 303, "the lock is per (account, IP): the patient elsewhere can still sign in"


def test_unknown_usernames_lock_the_same_way(identity_app, make_client, make_account):
    client, account = make_client(), make_account()
    known, unknown = Browser(identity_app), Browser(identity_app)
    for _ in range(6):
        last_known = attempt(known, client, account.username, WRONG, ip="10.2.2.2")
        last_unknown = attempt(unknown, client, "no-such-" + account.username, WRONG, ip="10.2.2.3")
    def strip(response, name):
        text = response.get_data(as_text=True).replace(name, "NAME")
        return re.sub(r'(/interaction/[^/"]+|(value|data-csrf)="[A-Za-z0-9_-]{40,}")', "X", text)
    assert last_known.status_code == last_unknown.status_code == 429
    assert strip(last_known, account.username) == strip(last_unknown, "no-such-" + account.username)


def test_success_resets_the_count(identity_app, make_client, make_account):
    browser, client, account = Browser(identity_app), make_client(), make_account()
    for _ in range(4):
        attempt(browser, client, account.username, WRONG, ip="10.3.3.3")
    assert attempt(browser, client, account.username, PASSWORD, ip="10.3.3.3").status_code == 303
    fresh = Browser(identity_app)
    for _ in range(4):
        assert attempt(fresh, client, account.username, WRONG, ip="10.3.3.3").status_code == 401


def test_lockout_is_audited_and_the_patient_is_told_by_email(identity_app, make_client, make_account, identity_db):
    browser, client = Browser(identity_app), make_client()
    account = make_account(email="locked-out@example.org")
    for _ in range(5):
        attempt(browser, client, account.username, WRONG, ip="10.4.4.4")
    with identity_db() as session:
        locks = session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.event == "lockout", AuditEvent.account_id == account.id))
        bodies = [json.loads(b) for b in session.scalars(select(outbox.c.body)).all()]
    assert locks == 1
    alerts = [b for b in bodies if b["payload"].get("recipient", {}).get("email") == "locked-out@example.org"]
    assert alerts and alerts[0]["type"] == "notification.requested"
    assert alerts[0]["payload"]["template"] == "security_alert" and alerts[0]["payload"]["variables"]["event"] == "lockout"


@pytest.fixture(scope="module")
def strict_app(suite):
    settings = dataclasses.replace(suite.settings["identity"], account_failure_ceiling=10, ip_failures_per_window=8)
    return registry.create_app("identity", settings)


def test_account_wide_ceiling_locks_until_recovery(strict_app, make_client, make_account):
    client, account = make_client(), make_account()
    for ip in ("10.5.5.1", "10.5.5.2"):
        browser = Browser(strict_app)
        for _ in range(5):
            attempt(browser, client, account.username, WRONG, ip=ip)
    refused = attempt(Browser(strict_app), client, account.username, PASSWORD, ip="10.5.5.3")
    assert refused.status_code == 429 and "Reset your password" in refused.get_data(as_text=True)


def test_per_ip_limit_slows_credential_stuffing(strict_app, make_client, make_account):
    client, victim = make_client(), make_account()
    browser = Browser(strict_app)
    for n in range(8):
        attempt(browser, client, f"stuffed-{n}-{victim.username}", WRONG, ip="10.6.6.6")
    refused = attempt(browser, client, victim.username, PASSWORD, ip="10.6.6.6")
    assert refused.status_code == 429 and "from your network" in refused.get_data(as_text=True)
    assert attempt(Browser(strict_app), client, victim.username, PASSWORD, ip="10.6.6.7").status_code == 303


def test_parallel_guesses_cannot_slip_past_the_limit(identity_app, make_client, make_account, identity_db):
    client, account = make_client(), make_account()
    server = make_server("127.0.0.1", 0, identity_app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    results: list[int] = []

    def guess():
        http = requests.Session()
        page = http.get(f"{base}/authorize", params={"response_type": "code", "client_id": client.client_id,
                                                      "redirect_uri": client.redirect_uri, "scope": "openid"},
                        allow_redirects=True, timeout=30)
        csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        response = http.post(page.url.rsplit("/", 1)[0] + "/" + page.url.rsplit("/", 1)[1] + "/login",
                             data={"username": account.username, "password": WRONG, "csrf_token": csrf},
                             allow_redirects=False, timeout=60)
        results.append(response.status_code)

    try:
        threads = [threading.Thread(target=guess) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        server.shutdown()
    with identity_db() as session:
        checked = session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.event == "login", AuditEvent.outcome == "failed", AuditEvent.account_id == account.id))
    assert len(results) == 16
    assert checked <= 5, f"{checked} passwords were checked; the limit is 5"
    assert checked >= 4 and results.count(429) >= 16 - checked
