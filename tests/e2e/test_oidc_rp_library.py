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

import json
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from cryptojwt.key_jar import KeyJar
from idpyoidc.client.client_auth import ClientAuthnMethod
from idpyoidc.client.exception import OidcServiceError
from idpyoidc.client.rp_handler import RPHandler
from idpyoidc.exception import VerificationError
from idpyoidc.message.oidc import AccessTokenResponse, AtHashError, verify_id_token

REPO = Path(__file__).resolve().parents[2]
HTTP_TIMEOUT = 10
PASSWORD = "correct horse battery staple"
SCOPE = ["openid", "profile", "email", "offline_access"]

SERVICES = {
    "provider_info": {"class": "idpyoidc.client.oidc.provider_info_discovery.ProviderInfoDiscovery"},
    "authorization": {"class": "idpyoidc.client.oidc.authorization.Authorization"},
    "accesstoken": {"class": "idpyoidc.client.oidc.access_token.AccessToken"},
    "refresh_token": {"class": "idpyoidc.client.oidc.refresh_access_token.RefreshAccessToken"},
    "userinfo": {"class": "idpyoidc.client.oidc.userinfo.UserInfo"},
    "introspection": {"class": "idpyoidc.client.oauth2.introspection.Introspection"},
    "token_revocation": {"class": "idpyoidc.client.oauth2.token_revocation.TokenRevocation"},
    "end_session": {"class": "idpyoidc.client.oidc.end_session.EndSession"},
}
PKCE = {"pkce": {"function": "idpyoidc.client.oauth2.add_on.pkce.add_support",
                 "kwargs": {"code_challenge_length": 64, "code_challenge_method": "S256"}}}


# -- the provider, as a subprocess ------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Provider:
    issuer: str
    rp_base: str
    env: dict
    log: Path
    clients: dict = field(default_factory=dict)

    def cli(self, *args: str) -> dict:
        result = subprocess.run([sys.executable, "-m", "services.cli", *args], cwd=REPO, env=self.env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"carekey {' '.join(args)} failed:\n{result.stderr}"
        return json.loads(result.stdout)

    @property
    def callback(self) -> str:
        return f"{self.rp_base}/cb"

    @property
    def goodbye(self) -> str:
        return f"{self.rp_base}/bye"


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@pytest.fixture(scope="module")
def provider(tmp_path_factory, request) -> Provider:
    tmp = tmp_path_factory.mktemp("identity_e2e")
    port, rp_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("IDENTITY_") and k not in ("DATABASE_URL", "AMQP_URL", "CAREKEY_ENV")}
    env.update({
        "CAREKEY_ENV": "test",
        "IDENTITY_DATABASE_URL": f"sqlite:///{tmp / 'identity.sqlite'}",
        "AMQP_URL": f"sqlalchemy+sqlite:///{tmp / 'broker.sqlite'}",
        "IDENTITY_HOST": "127.0.0.1",
        "IDENTITY_PORT": str(port),
        "PYTHONUNBUFFERED": "1",
    })
    issuer = f"http://127.0.0.1:{port}"
    prov = Provider(issuer=issuer, rp_base=f"http://127.0.0.1:{rp_port}", env=env, log=tmp / "server.log")

    upgrade = subprocess.run([sys.executable, "-m", "services.cli", "db", "upgrade", "--service", "identity"],
                             cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert upgrade.returncode == 0, upgrade.stderr

    log = open(prov.log, "wb")
    proc = subprocess.Popen([sys.executable, "-m", "services.cli", "serve", "identity"], cwd=REPO, env=env,
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def stop():
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        log.close()

    request.addfinalizer(stop)

    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            pytest.fail(f"identity server exited with {proc.returncode}:\n{_log_tail(prov.log)}")
        try:
            if requests.get(f"{issuer}/readyz", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"identity server not ready after 60s:\n{_log_tail(prov.log)}")
        time.sleep(0.2)

    common = ["--redirect-uri", prov.callback, "--post-logout-redirect-uri", prov.goodbye, "--first-party",
              "--scope", " ".join(SCOPE)]
    prov.clients["a"] = prov.cli("identity", "clients", "create", "--name", "Portal A", *common)
    prov.clients["b"] = prov.cli("identity", "clients", "create", "--name", "Portal B", *common)
    prov.clients["public"] = prov.cli("identity", "clients", "create", "--name", "Portal App", *common, "--public")
    prov.cli("identity", "accounts", "create", "--username", "alice", "--password", PASSWORD,
             "--email", "alice@example.org", "--given-name", "Alice", "--family-name", "Liddell")
    return prov


# -- the relying party: idpyoidc ---------------------------------------------------------------
class NoClientAuthn(ClientAuthnMethod):
    """``token_endpoint_auth_method=none`` (OIDC Core 9): client_id in the body, no secret.

    idpyoidc ships no such method; this plugs it in through ``client_authn_methods``."""

    def construct(self, request, service=None, http_args=None, **kwargs):
        if "client_secret" in request:
            del request["client_secret"]
        request["client_id"] = service.upstream_get("context").get_client_id()
        return http_args or {}


class RP:
    """One registered client, as an idpyoidc RPHandler bound to the provider's issuer."""

    def __init__(self, provider: Provider, registration: dict, *, pkce: bool = True):
        public = registration.get("token_endpoint_auth_method") == "none"
        conf = {
            "issuer": provider.issuer,
            "client_id": registration["client_id"],
            "redirect_uris": [provider.callback],
            "post_logout_redirect_uris": [provider.goodbye],
            "client_type": "oidc",
            "preference": {
                "response_types_supported": ["code"],
                "token_endpoint_auth_methods_supported": ["none" if public else "client_secret_basic"],
                "id_token_signing_alg_values_supported": [registration["id_token_signed_response_alg"]],
                "scopes_supported": SCOPE,
            },
            "client_authn_methods": ({"none": NoClientAuthn} if public else ["client_secret_basic"]),
            "httpc_params": {"timeout": HTTP_TIMEOUT},
        }
        if not public:
            conf["client_secret"] = registration["client_secret"]
        if pkce:
            conf["add_ons"] = PKCE
        self.issuer = provider.issuer
        self.client_id = registration["client_id"]
        # An empty KeyJar: the RP signs nothing, and RPHandler would otherwise write key files to the cwd.
        self.handler = RPHandler(base_url=provider.rp_base, client_configs={provider.issuer: conf},
                                 services=SERVICES, keyjar=KeyJar(),
                                 httpc_params={"timeout": HTTP_TIMEOUT})
        self.client = self.handler.client_setup(provider.issuer)  # discovery + static registration
        self.client.keyjar.httpc_params.update({"timeout": HTTP_TIMEOUT})

    @property
    def context(self):
        return self.client.get_context()

    def begin(self, **req_args) -> str:
        return self.handler.init_authorization(self.client, req_args={"scope": SCOPE, **req_args})

    def finalize_auth(self, response: dict):
        return self.handler.finalize_auth(self.client, self.issuer, response)

    def tokens(self, state: str):
        return self.handler.get_tokens(state, self.client)

    def check_at_hash(self, token_response) -> None:
        """The library's verify_id_token with check_hash=True: at_hash must match the access token."""
        message = AccessTokenResponse(access_token=token_response["access_token"],
                                      id_token=token_response["id_token"])
        args = self.client.get_service("accesstoken").gather_verify_arguments()
        assert verify_id_token(message, check_hash=True, **args)

    def introspect(self, token: str, hint: str = "access_token"):
        return self.client.do_request("introspection", request_args={"token": token, "token_type_hint": hint},
                                      authn_method="client_secret_basic")

    def revoke(self, token: str, hint: str) -> requests.Response:
        info = self.client.get_service("token_revocation").get_request_parameters(
            request_args={"token": token, "token_type_hint": hint}, authn_method="client_secret_basic")
        return requests.request(info["method"], info["url"], data=info.get("body"),
                                headers=info.get("headers"), timeout=HTTP_TIMEOUT)


# -- the browser: requests.Session -------------------------------------------------------------
class _Forms(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs.get("action") or "", "method": (attrs.get("method") or "get").lower(),
                               "inputs": {}})
        elif tag == "input" and self.forms and attrs.get("name"):
            self.forms[-1]["inputs"][attrs["name"]] = attrs.get("value") or ""


def query(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def base(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


class Browser:
    """Follows the provider's redirects and fills in the login form; stops at the RP's own URLs."""

    def __init__(self, provider: Provider):
        self.provider = provider
        self.http = requests.Session()
        self.login_pages = 0

    def get(self, url: str) -> requests.Response:
        return self.http.get(url, allow_redirects=False, timeout=HTTP_TIMEOUT)

    def go(self, url: str, *, username: str | None = None, password: str | None = None) -> str:
        """Start at *url*; return the Location that points at the RP (never fetched)."""
        response = self.get(url)
        for _ in range(15):
            if response.is_redirect:
                location = urljoin(response.url, response.headers["Location"])
                if location.startswith(self.provider.rp_base + "/"):
                    return location
                response = self.get(location)
                continue
            assert response.status_code == 200, \
                f"unexpected {response.status_code} at {response.url}:\n{response.text[:2000]}"
            parser = _Forms()
            parser.feed(response.text)
            login = next((f for f in parser.forms if f["action"].endswith("/login")), None)
            assert login is not None, f"no sign-in form at {response.url}:\n{response.text[:2000]}"
            assert username is not None, f"the provider asked for a sign-in at {response.url}"
            assert "csrf_token" in login["inputs"] and self.http.cookies.get("carekey_ui")
            self.login_pages += 1
            form = {**login["inputs"], "username": username, "password": password, "action": "login"}
            response = self.http.post(urljoin(response.url, login["action"]), data=form, allow_redirects=False,
                                      timeout=HTTP_TIMEOUT)
            assert response.status_code == 303, f"sign-in failed ({response.status_code}):\n{response.text[:2000]}"
            username = None  # one sign-in per journey
        raise AssertionError("too many redirects")


@dataclass
class Login:
    rp: RP
    browser: Browser
    state: str
    request: dict
    response: dict
    tokens: object

    @property
    def id_token(self):
        return self.tokens["__verified_id_token"]


def sign_in(provider: Provider, rp: RP, browser: Browser | None = None) -> Login:
    browser = browser or Browser(provider)
    url = rp.begin()
    callback = browser.go(url, username="alice", password=PASSWORD)
    assert base(callback) == provider.callback
    response = query(callback)
    rp.finalize_auth(response)
    tokens = rp.tokens(response["state"])
    return Login(rp, browser, response["state"], query(url), response, tokens)


# -- tests ------------------------------------------------------------------------------------
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
