"""Passkeys: registration from the security page and sign-in with a passkey as the only factor,
driven by a software WebAuthn authenticator."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.fakes.webauthn_authenticator import SoftAuthenticator
from tests.identity.conftest import Browser, callback_params, pkce_pair
from tests.identity.steps import decode, exchange


@pytest.fixture
def authenticator(suite):
    issuer = urlsplit(suite.settings["identity"].public_url)
    return SoftAuthenticator(issuer.hostname, f"{issuer.scheme}://{issuer.netloc}")


def register(browser: Browser, authenticator: SoftAuthenticator):
    headers = {"X-CSRF-Token": browser.csrf()}
    options = browser.http.post("/account/security/passkeys/options", headers=headers).json
    credential = authenticator.create(options["publicKey"])
    return browser.http.post("/account/security/passkeys", headers=headers,
                             json={"challenge_id": options["challenge_id"], "credential": credential, "name": "Laptop"})


@pytest.fixture
def with_passkey(identity_app, make_client, make_account, authenticator):
    browser, client, account = Browser(identity_app), make_client(), make_account()
    browser.sign_in(client, account.username)
    assert register(browser, authenticator).status_code == 201
    return client, account


def passkey_login(identity_app, client, authenticator, **authorize):
    browser = Browser(identity_app)
    response, _ = browser.authorize(client, **authorize)
    page = browser.follow(response)
    assert "Sign in with a passkey" in page.get_data(as_text=True)
    uid = page.request.path.rsplit("/", 1)[-1]
    headers = {"X-CSRF-Token": browser.csrf()}
    options = browser.http.post(f"/interaction/{uid}/passkey/options", headers=headers).json
    return browser, uid, headers, options


def test_passkey_is_registered_and_listed(identity_app, with_passkey):
    client, account = with_passkey
    browser = Browser(identity_app)
    browser.sign_in(client, account.username)
    assert "Laptop" in browser.http.get("/account/security/").get_data(as_text=True)


def test_sign_in_with_only_a_passkey(identity_app, with_passkey, authenticator, api):
    client, account = with_passkey
    verifier, challenge = pkce_pair()
    browser, uid, headers, options = passkey_login(identity_app, client, authenticator, code_challenge=challenge,
                                                   code_challenge_method="S256")
    credential = authenticator.get(options["publicKey"])
    done = browser.http.post(f"/interaction/{uid}/passkey", headers=headers,
                             json={"challenge_id": options["challenge_id"], "credential": credential})
    assert done.status_code == 200, done.json
    finished = browser.follow(browser.http.get(done.json["redirect"]))
    token = exchange(api, client, callback_params(finished)["code"], verifier).json
    claims = decode(api, token["id_token"]).claims
    assert claims["acr"] == "urn:carekey:acr:mfa" and "hwk" in claims["amr"]
    assert token["access_token"]


@pytest.mark.parametrize("tamper", ["origin", "key", "replay", "unknown"])
def test_bad_passkey_assertions_are_refused(identity_app, with_passkey, authenticator, tamper):
    client, _ = with_passkey
    browser, uid, headers, options = passkey_login(identity_app, client, authenticator)
    if tamper == "origin":
        credential = authenticator.get(options["publicKey"], origin="https://evil.example")
    elif tamper == "key":
        credential = authenticator.get(options["publicKey"], signing_key=ec.generate_private_key(ec.SECP256R1()))
    elif tamper == "unknown":
        stranger = SoftAuthenticator(authenticator.rp_id, authenticator.origin)
        credential = stranger.get(options["publicKey"])
    else:
        credential = authenticator.get(options["publicKey"])
        first = browser.http.post(f"/interaction/{uid}/passkey", headers=headers,
                                  json={"challenge_id": options["challenge_id"], "credential": credential})
        assert first.status_code == 200
    refused = browser.http.post(f"/interaction/{uid}/passkey", headers=headers,
                                json={"challenge_id": options["challenge_id"], "credential": credential})
    if tamper == "replay":
        assert refused.status_code in (400, 410), "a challenge and its interaction work once"
    else:
        assert refused.status_code == 400 and refused.mimetype == "application/problem+json"
        assert not any(c.startswith("carekey_session=") for c in refused.headers.getlist("Set-Cookie"))


def test_passkey_endpoints_need_csrf(identity_app, with_passkey, authenticator):
    client, _ = with_passkey
    browser = Browser(identity_app)
    page = browser.follow(browser.authorize(client)[0])
    uid = page.request.path.rsplit("/", 1)[-1]
    assert browser.http.post(f"/interaction/{uid}/passkey/options").status_code == 400
