"""Logout (RP-initiated and back-channel), SSO session timeouts, the sessions page, audit."""
from __future__ import annotations

import threading
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from joserfc import jwt
from sqlalchemy import select
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from services.identity.db.models import AuditEvent, SsoSession
from services.identity.domain.time import now
from shared.database import transaction
from tests.identity.conftest import callback_params
from tests.identity.steps import keyset, login_and_exchange, refresh


class LogoutReceiver:
    """A portal's back-channel logout endpoint on a real local port."""

    def __init__(self) -> None:
        self.tokens: list[str] = []

        @Request.application
        def app(request):
            self.tokens.append(request.form.get("logout_token"))
            return Response("", status=200)

        self.server = make_server("127.0.0.1", 0, app)
        self.url = f"http://127.0.0.1:{self.server.server_port}/backchannel-logout"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def receiver():
    r = LogoutReceiver()
    yield r
    r.close()


def logout_url(**params) -> str:
    return "/logout?" + urlencode(params)


def test_rp_initiated_logout_redirects_with_state_and_ends_the_session(browser, api, make_client, make_account):
    client = make_client(post_logout_redirect_uris=["https://portal.example/signed-out"])
    token, _ = login_and_exchange(browser, api, client, make_account())
    response = browser.http.get(logout_url(id_token_hint=token["id_token"],
                                           post_logout_redirect_uri="https://portal.example/signed-out",
                                           state="bye-123"))
    assert response.status_code == 303
    target = urlsplit(response.headers["Location"])
    assert target.netloc == "portal.example" and parse_qs(target.query)["state"] == ["bye-123"]
    after, _ = browser.authorize(client, prompt="none")
    assert callback_params(after)["error"] == "login_required"
    assert refresh(api, client, token["refresh_token"]).json["error"] == "invalid_grant", \
        "tokens bound to the session die with it (no offline_access)"


def test_offline_access_survives_logout(browser, api, make_client, make_account):
    client = make_client(post_logout_redirect_uris=["https://portal.example/out"])
    token, _ = login_and_exchange(browser, api, client, make_account(), scope="openid offline_access")
    browser.http.get(logout_url(id_token_hint=token["id_token"], post_logout_redirect_uri="https://portal.example/out"))
    assert refresh(api, client, token["refresh_token"]).status_code == 200


def test_unregistered_post_logout_redirect_is_never_followed(browser, api, make_client, make_account):
    client = make_client(post_logout_redirect_uris=["https://portal.example/out"])
    token, _ = login_and_exchange(browser, api, client, make_account())
    response = browser.http.get(logout_url(id_token_hint=token["id_token"],
                                           post_logout_redirect_uri="https://evil.example/out"),
                                headers={"Accept": "text/html"})
    assert response.status_code == 400 and "Location" not in response.headers


def test_logout_without_hint_asks_for_confirmation(browser, make_client, make_account):
    client = make_client()
    browser.sign_in(client, make_account().username)
    page = browser.http.get("/logout", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "Sign out of CareKey?" in page.get_data(as_text=True)
    still, _ = browser.authorize(client, prompt="none")
    assert "code" in callback_params(still), "a GET alone never signs anyone out"
    refused = browser.http.post("/logout", data={"confirm": "yes"}, headers={"Accept": "text/html"})
    assert refused.status_code == 400, "confirmation needs the CSRF token"
    done = browser.http.post("/logout", data={"confirm": "yes", "csrf_token": browser.csrf()})
    assert done.status_code == 200 and "signed out" in done.get_data(as_text=True)
    after, _ = browser.authorize(client, prompt="none")
    assert callback_params(after)["error"] == "login_required"


def test_backchannel_logout_reaches_every_portal_the_session_touched(browser, api, make_client, make_account,
                                                                    receiver, suite):
    first = make_client(backchannel_logout_uri=receiver.url, post_logout_redirect_uris=["https://a.example/out"])
    second = make_client(backchannel_logout_uri=receiver.url)
    untouched = make_client(backchannel_logout_uri=receiver.url)
    account = make_account()
    token, _ = login_and_exchange(browser, api, first, account)
    login_and_exchange(browser, api, second, account)
    browser.http.get(logout_url(id_token_hint=token["id_token"], post_logout_redirect_uri="https://a.example/out"))
    assert len(receiver.tokens) == 2
    keys = keyset(api)
    audiences = set()
    for raw in receiver.tokens:
        decoded = jwt.decode(raw, keys, algorithms=["ES256", "RS256"])
        claims = decoded.claims
        assert decoded.header["typ"] == "logout+jwt"
        assert claims["iss"] == suite.settings["identity"].public_url and claims["sid"] and claims["jti"]
        assert "http://schemas.openid.net/event/backchannel-logout" in claims["events"] and "nonce" not in claims
        audiences.add(claims["aud"])
    assert audiences == {first.client_id, second.client_id} and untouched.client_id not in audiences


def test_idle_and_absolute_timeouts_end_the_session(browser, make_client, make_account, identity_db, suite):
    client, account = make_client(), make_account()
    browser.sign_in(client, account.username)
    settings = suite.settings["identity"]
    with transaction(identity_db) as session:
        sso = session.scalars(select(SsoSession).where(SsoSession.account_id == account.id)).one()
        sso.last_seen_at = now() - timedelta(seconds=settings.session_idle + 5)
    idle, _ = browser.authorize(client, prompt="none")
    assert callback_params(idle)["error"] == "login_required"
    browser.sign_in(client, account.username)
    with transaction(identity_db) as session:
        live = session.scalars(select(SsoSession).where(SsoSession.account_id == account.id,
                                                        SsoSession.ended_at.is_(None))).one()
        live.expires_at = now() - timedelta(seconds=1)
    old, _ = browser.authorize(client, prompt="none")
    assert callback_params(old)["error"] == "login_required"


def test_sessions_page_lists_and_signs_out_other_sessions(identity_app, make_client, make_account):
    from tests.identity.conftest import Browser
    client, account = make_client(), make_account()
    laptop, phone = Browser(identity_app), Browser(identity_app)
    laptop.sign_in(client, account.username)
    phone.sign_in(client, account.username)
    page = laptop.http.get("/account/sessions")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and text.count("Sign out</button>") == 2 and "(this browser)" in text
    import re
    sids = re.findall(r'/account/sessions/([0-9a-f-]{36})/end', text)
    current = re.search(r'/account/sessions/([0-9a-f-]{36})/end"[^<]*<input[^>]*>\s*<button[^>]*this browser', text)
    other = [sid for sid in sids if not current or sid != current.group(1)][0]
    laptop.http.post(f"/account/sessions/{other}/end", data={"csrf_token": laptop.csrf()})
    phone_after, _ = phone.authorize(client, prompt="none")
    assert callback_params(phone_after)["error"] == "login_required"
    laptop_after, _ = laptop.authorize(client, prompt="none")
    assert "code" in callback_params(laptop_after)


def test_account_page_asks_to_sign_in_when_signed_out(api):
    page = api.get("/account/sessions")
    assert page.status_code == 200 and 'autocomplete="current-password"' in page.get_data(as_text=True)


def test_audit_records_sign_ins_tokens_reuse_and_logout_without_secrets(browser, api, make_client, make_account,
                                                                        identity_db):
    client = make_client(post_logout_redirect_uris=["https://a.example/out"])
    account = make_account()
    page = browser.follow(browser.authorize(client)[0])
    browser.login(page, account.username, "wrong password entirely")
    token, _ = login_and_exchange(browser, api, client, account)
    rotated = refresh(api, client, token["refresh_token"]).json
    refresh(api, client, token["refresh_token"])
    browser.http.get(logout_url(id_token_hint=token["id_token"], post_logout_redirect_uri="https://a.example/out"))
    with identity_db() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.client_id == client.client_id)
                                 .order_by(AuditEvent.id)).all()
        logout = session.scalars(select(AuditEvent).where(AuditEvent.account_id == account.id,
                                                          AuditEvent.event == "logout")).all()
    seen = {(e.event, e.outcome) for e in events}
    assert {("login", "failed"), ("login", "succeeded"), ("authorization", "code_issued"), ("token", "issued"),
            ("token", "refreshed"), ("token", "refresh_token_reused")} <= seen
    assert logout and all(e.ip for e in events)
    dump = repr([(e.event, e.outcome, e.detail) for e in events + logout])
    for secret in (token["access_token"], token["refresh_token"], rotated["refresh_token"], "wrong password entirely"):
        assert secret not in dump
