"""The portal as a relying party: what it sends to the provider, what it accepts back, and how a
back-channel logout token is judged (OpenID Connect Back-Channel Logout 1.0, section 2.6)."""
from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.portal.conftest import CLIENT_ID

SCOPES = {"openid", "profile", "email", "launch/patient", "patient/*.rs"}


def authorize_params(response) -> dict[str, str]:
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


def test_sign_in_starts_the_code_flow_with_pkce_s256_state_and_nonce(portal, provider):
    response = portal.test_client().get("/login")
    assert response.headers["Location"].startswith(f"{provider.issuer}/authorize?")
    params = authorize_params(response)
    assert params["response_type"] == "code" and params["client_id"] == CLIENT_ID
    assert params["redirect_uri"] == "http://127.0.0.1:8101/callback"
    assert set(params["scope"].split()) == SCOPES
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert len(params["state"]) >= 20 and len(params["nonce"]) >= 20


def test_third_party_initiated_login_passes_the_hint_and_remembers_a_target_on_this_portal(portal, provider):
    client = portal.test_client()
    response = client.get("/login", query_string={"iss": provider.issuer, "login_hint": "alex",
                                                   "target_link_uri": "http://127.0.0.1:8101/dashboard?tab=labs"})
    assert authorize_params(response)["login_hint"] == "alex"
    with client.session_transaction() as session:
        assert session["after_sign_in"] == "/dashboard?tab=labs"


@pytest.mark.parametrize("query", [
    {"iss": "https://not-carekey.example"},
    {"target_link_uri": "https://evil.example/dashboard"},
    {"target_link_uri": "http://127.0.0.1:8102/dashboard"},   # another port is another origin
    {"target_link_uri": "//evil.example/x"},
    {"target_link_uri": "/\\evil.example"},
])
def test_login_links_from_elsewhere_get_a_page_not_a_redirect(portal, query):
    response = portal.test_client().get("/login", query_string=query)
    assert response.status_code == 400 and "Location" not in response.headers
    assert "sign you in from there" in response.get_data(as_text=True)


def test_the_callback_refuses_an_answer_from_another_issuer(portal):
    client = portal.test_client()
    state = authorize_params(client.get("/login"))["state"]
    response = client.get("/callback", query_string={"code": "x", "state": state, "iss": "https://evil.example"})
    assert response.status_code == 400 and "did not come from CareKey" in response.get_data(as_text=True)


def test_the_callback_refuses_an_answer_without_iss_from_a_provider_that_sends_it(portal):
    client = portal.test_client()
    state = authorize_params(client.get("/login"))["state"]
    assert client.get("/callback", query_string={"code": "x", "state": state}).status_code == 400


def test_an_unknown_state_asks_to_sign_in_again(portal, provider):
    response = portal.test_client().get("/callback", query_string={"code": "x", "state": "forged",
                                                                     "iss": provider.issuer})
    assert response.status_code == 400 and "Please sign in again" in response.get_data(as_text=True)


def test_a_cancelled_sign_in_returns_home_with_a_notice(portal, provider):
    client = portal.test_client()
    state = authorize_params(client.get("/login"))["state"]
    response = client.get("/callback", query_string={"error": "access_denied", "state": state,
                                                     "iss": provider.issuer})
    assert response.status_code == 303 and response.headers["Location"].endswith("/?notice=cancelled")
    assert "Sign-in was cancelled" in client.get(response.headers["Location"]).get_data(as_text=True)


@pytest.mark.parametrize("path", ["/logout", "/switch"])
def test_forms_without_the_csrf_token_are_refused(portal, path):
    response = portal.test_client().post(path)
    assert response.status_code == 400 and "This page expired" in response.get_data(as_text=True)


def test_the_dashboard_needs_a_sign_in_and_errors_are_pages(portal):
    client = portal.test_client()
    response = client.get("/dashboard")
    assert response.status_code == 303 and response.headers["Location"] == "/login?next=/dashboard"
    missing = client.get("/no-such-page")
    assert missing.status_code == 404 and "Page not found" in missing.get_data(as_text=True)
    assert "text/html" in missing.headers["Content-Type"]


def test_home_offers_sign_in_sign_up_and_invitation_with_the_practice_in_the_links(portal):
    page = portal.test_client().get("/").get_data(as_text=True)
    assert 'href="/login"' in page
    assert 'href="http://127.0.0.1:8002/practices/riverside/signup"' in page
    assert 'href="http://127.0.0.1:8002/practices/riverside/invitation"' in page


# -- back-channel logout ----------------------------------------------------------------------------
def sessions(portal, *pairs):
    store = portal.extensions["portal"].store
    return [store.create(sid=sid, sub=sub, data={"access_token": "t"}).id for sid, sub in pairs]


def post_token(portal, token):
    return portal.test_client().post("/backchannel-logout", data={"logout_token": token})


def test_a_valid_logout_token_ends_the_session_with_that_sid_only(portal, provider):
    mine, other = sessions(portal, ("sid-1", "sub-1"), ("sid-2", "sub-1"))
    response = post_token(portal, provider.logout_token())
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    store = portal.extensions["portal"].store
    assert store.load(mine) is None and store.load(other) is not None


def test_a_logout_token_with_only_sub_ends_every_session_of_that_subject(portal, provider):
    first, second, someone_else = sessions(portal, ("a", "sub-9"), ("b", "sub-9"), ("c", "sub-8"))
    assert post_token(portal, provider.logout_token(sid=None, sub="sub-9")).status_code == 200
    store = portal.extensions["portal"].store
    assert store.load(first) is None and store.load(second) is None and store.load(someone_else) is not None


def test_a_replayed_logout_token_is_refused(portal, provider):
    token = provider.logout_token()
    assert post_token(portal, token).status_code == 200
    assert post_token(portal, token).status_code == 400


@pytest.mark.parametrize("change", [
    {"aud": "another-client"},
    {"iss": "https://not-carekey.example"},
    {"nonce": "n"},                                    # an ID token is not a logout token
    {"events": {"http://schemas.openid.net/event/other": {}}},
    {"events": None},
    {"sid": None, "sub": None},
    {"jti": None},
    {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 3700},
    {"iat": None},
])
def test_logout_tokens_failing_a_check_are_refused_and_end_nothing(portal, provider, change):
    [kept] = sessions(portal, ("sid-1", "sub-1"))
    response = post_token(portal, provider.logout_token(**change))
    assert response.status_code == 400 and response.json["error"] == "invalid_request"
    assert portal.extensions["portal"].store.load(kept) is not None


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzaWQiOiJzaWQtMSJ9."])
def test_malformed_and_unsigned_logout_tokens_are_refused(portal, token):
    [kept] = sessions(portal, ("sid-1", "sub-1"))
    assert post_token(portal, token).status_code == 400
    assert portal.extensions["portal"].store.load(kept) is not None


def test_a_logout_token_signed_with_another_key_or_typed_otherwise_is_refused(portal, provider):
    [kept] = sessions(portal, ("sid-1", "sub-1"))
    assert post_token(portal, provider.logout_token(key=provider.other_key)).status_code == 400
    assert post_token(portal, provider.logout_token(header={"typ": "JWT"})).status_code == 400
    assert portal.extensions["portal"].store.load(kept) is not None


def test_behind_a_container_network_the_server_calls_go_inside_and_the_browser_outside(tmp_path):
    """PORTAL_ISSUER_INTERNAL_URL: discovery, token, userinfo and keys at the internal address; the
    browser still goes to the issuer's public authorization endpoint."""
    import threading

    from flask import Flask, jsonify
    from werkzeug.serving import make_server

    from examples.portal.app import create_app
    from examples.portal.settings import PortalSettings
    public = "http://carekey.example"
    app = Flask("public-provider")

    @app.get("/.well-known/openid-configuration")
    def metadata():
        return jsonify(issuer=public, authorization_endpoint=f"{public}/authorize", token_endpoint=f"{public}/token",
                       userinfo_endpoint=f"{public}/userinfo", jwks_uri=f"{public}/jwks",
                       end_session_endpoint=f"{public}/logout")

    server = make_server("127.0.0.1", 0, app)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    internal = f"http://127.0.0.1:{server.server_port}"
    try:
        portal = create_app(PortalSettings.from_env({
            "CAREKEY_ENV": "test", "PORTAL_PRACTICE_ID": "riverside", "PORTAL_CLIENT_ID": CLIENT_ID,
            "PORTAL_CLIENT_SECRET": "s", "PORTAL_ISSUER": public, "PORTAL_ISSUER_INTERNAL_URL": internal,
            "PORTAL_SECRET_KEY": "k" * 40, "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path / 'p.sqlite'}"}))
        response = portal.test_client().get("/login")
        assert response.headers["Location"].startswith(f"{public}/authorize?")
        found = portal.extensions["portal"].carekey.metadata()
        assert (found["token_endpoint"], found["userinfo_endpoint"], found["jwks_uri"]) == (
            f"{internal}/token", f"{internal}/userinfo", f"{internal}/jwks")
        assert found["end_session_endpoint"] == f"{public}/logout"
    finally:
        server.shutdown()
