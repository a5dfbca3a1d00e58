"""The identity provider, as a black box, driven by a certified-style RP library (idpyoidc).

The provider runs as a real HTTP server in a subprocess (``carekey serve identity``) on a private
SQLite database; clients and the test account are created with the ``carekey identity`` CLI.

What goes through idpyoidc (``RPHandler`` + ``StandAloneClient`` with the ``provider_info``,
``authorization``, ``accesstoken``, ``refresh_token``, ``userinfo``, ``introspection``,
``token_revocation`` and ``end_session`` services, and its PKCE add-on):

* discovery: provider configuration and the JWKS (``do_provider_info``);
* the authorization request with ``state``, ``nonce`` and PKCE S256 (``init_authorization``);
* parsing the authorization response, which checks ``state`` (a known key) and ``iss``
  (RFC 9207) (``finalize_auth``), and error responses such as ``login_required``;
* the code exchange with client_secret_basic, and the ID token checks: ES256 signature against
  the JWKS, ``iss``, ``aud``/``azp``, ``exp``/``iat``, ``nonce`` (``get_tokens``);
* ``at_hash``: the token service does not check it (``AccessTokenResponse.verify`` calls
  ``verify_id_token`` without ``check_hash``), so the test calls the library's own
  ``idpyoidc.message.oidc.verify_id_token(..., check_hash=True)`` on the token response;
* userinfo, with the library's check that its ``sub`` matches the ID token (``get_user_info``);
* refresh (``refresh_access_token``) and replaying an old refresh token (``do_request``);
* introspection (``do_request("introspection")``, client_secret_basic);
* the end-session request: ``id_token_hint`` + ``post_logout_redirect_uri`` + ``state``
  (``logout``);
* the silent sign-in at a second client, end to end, through ``RPHandler.finalize``;
* a public client: idpyoidc has no ``none`` client authentication method, so the test plugs one
  in through the library's own ``client_authn_methods`` extension point (``NoClientAuthn``).

What is done by hand:

* the "browser": a ``requests.Session`` submits the login form and follows redirects until the
  RP's redirect_uri / post_logout_redirect_uri, whose Location is captured, never fetched;
* sending the revocation request: idpyoidc builds it (URL, body, Basic header) with
  ``get_request_parameters``, but its response parser rejects the empty RFC 7009 success body
  (``{}`` -> ``ResponseError: Missing or faulty response``), so the prepared request is sent
  with ``requests`` and the status checked;
* asserting ``iss`` on an authorization *error* response (the library returns error responses
  before its issuer check).
"""
from __future__ import annotations

import time

import pytest
from idpyoidc.client.exception import OidcServiceError
from idpyoidc.exception import VerificationError
from idpyoidc.message.oidc import AtHashError


from tests.e2e.rp_harness import (  # noqa: F401  (provider is a fixture)
    PASSWORD, SCOPE, Provider, RP, Browser, Login, sign_in, query, base, free_port, NoClientAuthn, HTTP_TIMEOUT, REPO, SERVICES, PKCE,
)


def test_discovery_loads_provider_configuration_and_keys(provider):
    rp = RP(provider, provider.clients["a"])
    info = rp.context.provider_info
    assert info["issuer"] == provider.issuer == rp.context.issuer
    assert rp.client.get_service("authorization").endpoint == f"{provider.issuer}/authorize"
    assert rp.client.get_service("accesstoken").endpoint == f"{provider.issuer}/token"
    assert rp.client.get_service("userinfo").endpoint == f"{provider.issuer}/userinfo"
    assert rp.client.get_service("end_session").endpoint == f"{provider.issuer}/logout"
    assert rp.client.get_service("introspection").endpoint == f"{provider.issuer}/introspect"
    assert rp.client.get_service("token_revocation").endpoint == f"{provider.issuer}/revoke"
    assert info["authorization_response_iss_parameter_supported"] is True
    assert "S256" in info["code_challenge_methods_supported"]
    keys = rp.client.keyjar.get_verify_key(issuer_id=provider.issuer, key_type="EC")
    assert keys and all(key.kid for key in keys), "the JWKS has no EC signing key with a kid"


def test_code_flow_with_pkce_confidential_client(provider):
    rp = RP(provider, provider.clients["a"])
    browser = Browser(provider)
    url = rp.begin()
    sent = query(url)
    assert base(url) == f"{provider.issuer}/authorize"
    assert sent["response_type"] == "code" and sent["client_id"] == rp.client_id
    assert sent["code_challenge_method"] == "S256" and len(sent["code_challenge"]) == 43
    assert sent["state"] and sent["nonce"] and sent["redirect_uri"] == provider.callback

    callback = browser.go(url, username="alice", password=PASSWORD)
    assert browser.login_pages == 1
    assert base(callback) == provider.callback
    response = query(callback)
    assert set(response) == {"code", "state", "iss"}
    assert response["state"] == sent["state"] and response["iss"] == provider.issuer

    # the library refuses a response from another issuer, and a state it never sent
    with pytest.raises(VerificationError, match="Issuer mismatch"):
        rp.finalize_auth({**response, "iss": "https://evil.example"})
    with pytest.raises(KeyError, match="Unknown state"):
        rp.finalize_auth({**response, "state": "never-sent"})
    authz = rp.finalize_auth(response)
    assert authz["code"] == response["code"]

    tokens = rp.tokens(response["state"])  # code + code_verifier, client_secret_basic, ID token verified
    assert tokens["token_type"].lower() == "bearer" and tokens["access_token"] and tokens["refresh_token"]
    id_token = tokens["__verified_id_token"]
    assert id_token.jws_header["alg"] == "ES256" and id_token.jws_header.get("kid")
    assert id_token["iss"] == provider.issuer
    assert id_token["aud"] == [rp.client_id]
    assert id_token["nonce"] == sent["nonce"]
    assert id_token["sub"]
    assert isinstance(id_token["auth_time"], int) and id_token["auth_time"] <= id_token["iat"]
    assert id_token["sid"]
    assert id_token["at_hash"]
    rp.check_at_hash(tokens)
    with pytest.raises(AtHashError):  # and the check really is a check
        rp.check_at_hash({**tokens, "access_token": tokens["refresh_token"]})

    userinfo = rp.handler.get_user_info(response["state"], rp.client)  # library checks sub == ID token sub
    assert userinfo["sub"] == id_token["sub"]
    assert userinfo["email"] == "alice@example.org"
    assert userinfo.get("given_name") == "Alice" and userinfo.get("family_name") == "Liddell"


def test_a_replayed_authorization_code_is_refused_and_its_tokens_revoked(provider):
    login = sign_in(provider, RP(provider, provider.clients["a"]))
    rp = login.rp
    assert rp.introspect(login.tokens["access_token"])["active"] is True
    with pytest.raises(OidcServiceError, match="invalid_grant"):
        rp.tokens(login.state)  # the library sends the same code (and code_verifier) again
    # RFC 6749 4.1.2: SHOULD revoke the tokens already issued from that code
    assert rp.introspect(login.tokens["access_token"])["active"] is False
    assert rp.introspect(login.tokens["refresh_token"], "refresh_token")["active"] is False


def test_refresh_rotates_and_a_replayed_refresh_token_revokes_the_grant(provider):
    login = sign_in(provider, RP(provider, provider.clients["a"]))
    rp, old = login.rp, login.tokens

    fresh = rp.handler.refresh_access_token(login.state, rp.client)
    assert fresh["access_token"] and fresh["access_token"] != old["access_token"]
    assert fresh["refresh_token"] and fresh["refresh_token"] != old["refresh_token"]
    kept = rp.context.cstate.get_set(login.state, claim=["refresh_token"])["refresh_token"]
    assert kept == fresh["refresh_token"], "the library keeps the rotated refresh token"

    replay = rp.client.do_request("refresh_token", request_args={"refresh_token": old["refresh_token"]},
                                  state=login.state, authn_method="client_secret_basic")
    assert replay["error"] == "invalid_grant"

    with pytest.raises(OidcServiceError, match="invalid_grant"):  # the rotated one went with the grant
        rp.handler.refresh_access_token(login.state, rp.client)
    assert rp.introspect(fresh["access_token"])["active"] is False


def test_revocation_and_introspection(provider):
    login = sign_in(provider, RP(provider, provider.clients["a"]))
    rp, tokens = login.rp, login.tokens

    before = rp.introspect(tokens["access_token"])
    assert before["active"] is True and before["client_id"] == rp.client_id

    revoked = rp.revoke(tokens["refresh_token"], "refresh_token")
    assert revoked.status_code == 200, revoked.text
    with pytest.raises(OidcServiceError, match="invalid_grant"):
        rp.handler.refresh_access_token(login.state, rp.client)
    assert rp.introspect(tokens["access_token"])["active"] is False
    assert rp.introspect(tokens["refresh_token"], "refresh_token")["active"] is False

    # a fresh grant from the same browser session: active, this client, the granted scope
    url = rp.begin(prompt="none")
    callback = login.browser.go(url)
    response = query(callback)
    assert "code" in response, callback
    rp.finalize_auth(response)
    again = rp.tokens(response["state"])
    rp.check_at_hash(again)
    active = rp.introspect(again["access_token"])
    assert active["active"] is True
    assert active["client_id"] == rp.client_id
    assert set(active["scope"]) == set(SCOPE)
    assert active.get("sub") in (None, again["__verified_id_token"]["sub"])
    assert active.get("exp", time.time() + 1) > time.time()


def test_silent_sign_in_at_a_second_client_and_login_required_without_a_session(provider):
    login_a = sign_in(provider, RP(provider, provider.clients["a"]))
    browser = login_a.browser
    assert browser.login_pages == 1

    rp_b = RP(provider, provider.clients["b"])
    url = rp_b.begin(prompt="none")
    callback = browser.go(url)  # no credentials: a sign-in page would fail the test
    assert browser.login_pages == 1
    response = query(callback)
    assert set(response) == {"code", "state", "iss"}, callback
    done = rp_b.handler.finalize(provider.issuer, response)  # code exchange, ID token checks, userinfo
    assert "error" not in done, done
    id_token_b = done["id_token"]
    assert id_token_b["aud"] == [rp_b.client_id]
    assert id_token_b["nonce"] == query(url)["nonce"]
    assert id_token_b["auth_time"] == login_a.id_token["auth_time"], "no new authentication happened"
    assert id_token_b["sid"] == login_a.id_token["sid"], "same SSO session"
    # pairwise by default, but both clients' redirect_uris share one host, hence one sector (OIDC Core 8.1)
    assert id_token_b["sub"] == login_a.id_token["sub"]
    assert done["userinfo"]["sub"] == id_token_b["sub"] and done["userinfo"]["email"] == "alice@example.org"

    # a browser without a session: login_required, straight back to the client
    stranger = Browser(provider)
    url = rp_b.begin(prompt="none")
    callback = stranger.go(url)
    assert stranger.login_pages == 0
    assert base(callback) == provider.callback
    response = query(callback)
    assert response["error"] == "login_required" and response["state"] == query(url)["state"]
    assert response.get("iss") == provider.issuer  # RFC 9207 applies to error responses too (by hand)
    error = rp_b.finalize_auth(response)
    assert error["error"] == "login_required"


def test_rp_initiated_logout_ends_the_session(provider):
    login = sign_in(provider, RP(provider, provider.clients["a"]))
    rp, browser = login.rp, login.browser
    assert browser.http.cookies.get("carekey_session")

    logout = rp.handler.logout(login.state, rp.client)
    sent = query(logout["url"])
    assert base(logout["url"]) == f"{provider.issuer}/logout"
    assert sent["id_token_hint"] == login.tokens["id_token"]
    assert sent["post_logout_redirect_uri"] == provider.goodbye
    assert sent["state"]

    landing = browser.go(logout["url"])
    assert base(landing) == provider.goodbye
    assert query(landing) == {"state": sent["state"]}

    url = rp.begin(prompt="none")
    callback = browser.go(url)
    response = query(callback)
    assert response.get("error") == "login_required", callback
    assert rp.finalize_auth(response)["error"] == "login_required"


def test_public_client_uses_pkce_and_no_client_authentication(provider):
    registration = provider.clients["public"]
    assert registration["public"] is True and "client_secret" not in registration
    rp = RP(provider, registration)
    assert rp.context.get_usage("token_endpoint_auth_method") == "none"

    login = sign_in(provider, rp)
    sent = login.request
    assert sent["code_challenge_method"] == "S256"
    id_token = login.id_token
    assert id_token["aud"] == [rp.client_id] and id_token["nonce"] == sent["nonce"]
    rp.check_at_hash(login.tokens)
    userinfo = rp.handler.get_user_info(login.state, rp.client)
    assert userinfo["sub"] == id_token["sub"]

    # the token request the library sent: client_id in the body, no secret, no Authorization header
    prepared = rp.client.get_service("accesstoken").get_request_parameters(
        request_args={"code": "x", "redirect_uri": provider.callback, "grant_type": "authorization_code",
                      "code_verifier": "v" * 43},
        authn_method="none", state=login.state)
    assert "Authorization" not in prepared.get("headers", {})
    assert f"client_id={rp.client_id}" in prepared["body"] and "client_secret" not in prepared["body"]

    # the same public client without PKCE is turned away, back at the client (RFC 7636 4.4.1)
    no_pkce = RP(provider, registration, pkce=False)
    url = no_pkce.begin()
    assert "code_challenge" not in query(url)
    browser = Browser(provider)
    callback = browser.go(url)
    assert browser.login_pages == 0
    answer = query(callback)
    assert answer["error"] == "invalid_request" and answer["state"] == query(url)["state"], answer
    assert answer.get("iss") == provider.issuer
    assert no_pkce.finalize_auth(answer)["error"] == "invalid_request"
