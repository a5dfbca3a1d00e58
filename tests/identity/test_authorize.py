"""The authorization endpoint: its checks in order, prompt handling, response modes."""
from __future__ import annotations

import json
import re
from urllib.parse import urlencode

import pytest

from tests.identity.conftest import PASSWORD, callback_params, pkce_pair
from tests.identity.steps import decode, login_and_exchange


def location(response) -> str:
    return response.headers.get("Location", "")


def test_unknown_client_gets_an_error_page_and_no_redirect(browser):
    response = browser.http.get("/authorize?" + urlencode({
        "response_type": "code", "client_id": "nobody", "redirect_uri": "https://evil.example/cb", "state": "s"}),
        headers={"Accept": "text/html"})
    assert response.status_code == 400 and "Location" not in response.headers
    assert "not registered" in response.get_data(as_text=True)


@pytest.mark.parametrize("redirect_uri", [
    "https://evil.example/callback",
    "{registered}?extra=1",
    "{registered}/",
    "{registered_upper}",
])
def test_unregistered_redirect_uri_is_never_redirected_to(browser, make_client, redirect_uri):
    client = make_client(redirect_uris=["https://portal.example/callback?practice=7"])
    uri = redirect_uri.format(registered=client.redirect_uri, registered_upper=client.redirect_uri.upper())
    response, _ = browser.authorize(client, redirect_uri=uri)
    assert response.status_code == 400 and "Location" not in response.headers


def test_registered_redirect_uri_with_query_matches_exactly(browser, make_client, make_account):
    client = make_client(redirect_uris=["https://portal.example/callback?practice=7"])
    account = make_account()
    verifier, challenge = pkce_pair()
    response, query = browser.sign_in(client, account.username, code_challenge=challenge, code_challenge_method="S256")
    assert location(response).startswith("https://portal.example/callback?practice=7&")
    params = callback_params(response)
    assert params["practice"] == "7" and params["state"] == query["state"] and params["code"]


def test_code_response_carries_state_and_iss(browser, make_client, make_account, suite):
    client, account = make_client(), make_account()
    response, query = browser.sign_in(client, account.username)
    params = callback_params(response)
    assert params["iss"] == suite.settings["identity"].public_url and params["state"] == query["state"]
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("params, error", [
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"response_type": "code id_token"}, "unsupported_response_type"),
    ({"scope": "openid admin:everything"}, "invalid_scope"),
    ({"response_mode": "fragment"}, "invalid_request"),
    ({"prompt": "none login"}, "invalid_request"),
    ({"max_age": "soon"}, "invalid_request"),
    ({"claims": "{not json"}, "invalid_request"),
    ({"claims": json.dumps({"everything": {}})}, "invalid_request"),
    ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
    ({"code_challenge": "x" * 43, "code_challenge_method": "plain"}, "invalid_request"),
    ({"code_challenge": "x" * 43}, "invalid_request"),
])
def test_bad_requests_from_a_known_client_are_redirected_errors(browser, make_client, params, error):
    client = make_client()
    response, query = browser.authorize(client, **params)
    result = callback_params(response)
    assert result["error"] == error and result["state"] == query["state"] and "iss" in result
    assert "code" not in result


def test_public_client_must_use_pkce(browser, make_client):
    client = make_client(public=True)
    response, _ = browser.authorize(client)
    assert callback_params(response)["error"] == "invalid_request"


def test_form_post_delivers_the_code_in_an_auto_submitting_form(browser, make_client, make_account):
    client, account = make_client(), make_account()
    response, query = browser.sign_in(client, account.username, response_mode="form_post")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert f'action="{client.redirect_uri}"' in page and 'method="post"' in page
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page))
    assert fields["state"] == query["state"] and fields["code"] and fields["iss"]


def test_prompt_none_without_session_is_login_required(browser, make_client):
    client = make_client()
    response, query = browser.authorize(client, prompt="none")
    result = callback_params(response)
    assert result["error"] == "login_required" and result["state"] == query["state"]


def test_second_client_signs_in_silently_with_prompt_none(browser, api, make_client, make_account):
    first, second, account = make_client(), make_client(), make_account()
    browser.sign_in(first, account.username)
    response, _ = browser.authorize(second, prompt="none")
    assert "code" in callback_params(response)


def test_prompt_login_asks_again_and_updates_auth_time(browser, api, make_client, make_account):
    client, account = make_client(), make_account()
    first, _ = login_and_exchange(browser, api, client, account)
    page = browser.follow(browser.authorize(client, prompt="login")[0])
    assert page.status_code == 200 and 'autocomplete="current-password"' in page.get_data(as_text=True)


def test_max_age_zero_forces_login(browser, make_client, make_account):
    client, account = make_client(), make_account()
    browser.sign_in(client, account.username)
    page = browser.follow(browser.authorize(client, max_age="0")[0])
    assert page.status_code == 200 and 'name="password"' in page.get_data(as_text=True)


def test_login_hint_prefills_the_username(browser, make_client):
    client = make_client()
    page = browser.follow(browser.authorize(client, login_hint="pat@example.org")[0])
    assert 'value="pat@example.org"' in page.get_data(as_text=True)


def test_login_page_is_accessible_markup_with_csrf(browser, make_client):
    client = make_client()
    page = browser.follow(browser.authorize(client)[0]).get_data(as_text=True)
    assert 'autocomplete="username"' in page and 'autocomplete="current-password"' in page
    assert '<label for="username">' in page and '<label for="password">' in page
    assert 'name="csrf_token"' in page and 'lang="en"' in page and 'name="viewport"' in page


def test_wrong_password_and_unknown_user_look_the_same(browser, make_client, make_account):
    client, account = make_client(), make_account()
    page = browser.follow(browser.authorize(client)[0])
    wrong = browser.login(page, account.username, "not the password at all")
    unknown = browser.login(page, "nobody-" + account.username, "not the password at all")
    assert wrong.status_code == unknown.status_code == 401
    strip = lambda r, name: r.get_data(as_text=True).replace(name, "NAME")  # noqa: E731
    assert strip(wrong, account.username) == strip(unknown, "nobody-" + account.username)


def test_login_without_csrf_token_is_refused(browser, make_client, make_account):
    client, account = make_client(), make_account()
    page = browser.follow(browser.authorize(client)[0])
    uid = page.request.path.rsplit("/", 1)[-1]
    response = browser.http.post(f"/interaction/{uid}/login", data={"username": account.username,
                                                                     "password": PASSWORD},
                                 headers={"Accept": "text/html"})
    assert response.status_code == 400
    assert not any(c.startswith("carekey_session=") for c in response.headers.getlist("Set-Cookie"))


def test_cancel_returns_access_denied(browser, make_client):
    client = make_client()
    page = browser.follow(browser.authorize(client)[0])
    uid = page.request.path.rsplit("/", 1)[-1]
    response = browser.http.post(f"/interaction/{uid}/login", data={"action": "cancel", "csrf_token": browser.csrf()})
    assert callback_params(response)["error"] == "access_denied"


def test_expired_or_unknown_interaction_shows_a_page(browser):
    response = browser.http.get("/interaction/not-a-real-one", headers={"Accept": "text/html"})
    assert response.status_code == 410 and "expired" in response.get_data(as_text=True)


def test_session_cookie_is_httponly_and_lax(browser, make_client, make_account):
    client, account = make_client(), make_account()
    page = browser.follow(browser.authorize(client)[0])
    response = browser.login(page, account.username)
    cookie = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("carekey_session=")][0]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie


def test_third_party_app_asks_consent_in_plain_words_and_remembers_it(browser, api, make_client, make_account):
    client = make_client(first_party=False, scope="openid profile email offline_access")
    account = make_account()
    response, _ = browser.authorize(client, scope="openid email offline_access")
    page = browser.follow(browser.login(browser.follow(response), account.username))
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "Your email address" in text and "Stay connected" in text
    uid = page.request.path.rsplit("/", 1)[-1]
    allowed = browser.http.post(f"/interaction/{uid}/consent", data={"decision": "allow", "csrf_token": browser.csrf()})
    assert "code" in callback_params(browser.follow(allowed))
    again, _ = browser.authorize(client, scope="openid email offline_access", prompt="none")
    assert "code" in callback_params(again), "consent remembered per client and scope"
    more, _ = browser.authorize(client, scope="openid email profile", prompt="none")
    assert callback_params(more)["error"] == "consent_required"


def test_denied_consent_returns_access_denied(browser, make_client, make_account):
    client, account = make_client(first_party=False), make_account()
    page = browser.follow(browser.login(browser.follow(browser.authorize(client)[0]), account.username))
    uid = page.request.path.rsplit("/", 1)[-1]
    denied = browser.http.post(f"/interaction/{uid}/consent", data={"decision": "deny", "csrf_token": browser.csrf()})
    assert callback_params(denied)["error"] == "access_denied"


def test_claims_parameter_releases_individually_requested_claims(browser, api, make_client, make_account):
    client, account = make_client(), make_account(email="claims@example.org")
    claims = {"userinfo": {"email": {"essential": True}}, "id_token": {"given_name": None}}
    token, _ = login_and_exchange(browser, api, client, account, scope="openid", claims=json.dumps(claims))
    id_token = decode(api, token["id_token"]).claims
    assert id_token["given_name"] == "Pat" and "email" not in id_token
    info = api.get("/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"}).json
    assert info["email"] == "claims@example.org" and "given_name" not in info
