"""The harness for the RP-library test: the provider subprocess, idpyoidc RPs, a form-posting browser."""
from __future__ import annotations

import json
import os
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
from idpyoidc.client.rp_handler import RPHandler
from idpyoidc.message.oidc import AccessTokenResponse, verify_id_token

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
