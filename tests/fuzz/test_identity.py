"""Identity, fuzzed: every endpoint, authenticated so that the bad input reaches its parser."""
from __future__ import annotations

import base64
import uuid
from urllib.parse import urlsplit

import pytest

from tests.fuzz.harness import PAGE, Endpoint, fuzz, plain, report
from tests.fuzz.inputs import Request
from tests.identity.conftest import Browser, pkce_pair
from tests.identity.steps import bearer, login_and_exchange

PASSKEY_JSON = {"interaction.passkey_options", "interaction.passkey_sign_in", "security.passkey_options",
                "security.add_passkey"}


def formats(endpoint: str | None) -> set[str]:
    """How identity answers errors: RFC 6749/6750 JSON at the OAuth JSON endpoints, problem details
    at the service APIs (RFC 6750 errors from their bearer check), pages everywhere a browser goes."""
    blueprint = endpoint.split(".")[0] if endpoint else None
    if blueprint in ("token", "userinfo"):
        return {"oauth"}
    if blueprint in ("admin_api", "internal_api"):
        return {"problem", "oauth"}
    if blueprint in ("discovery", "health", None) or endpoint in PASSKEY_JSON:
        return {"problem", "page"}
    return {"page"}


def _client_credentials(api, make_client, scope: str) -> dict:
    client = make_client(redirect_uris=[], scope=scope, grant_types=["client_credentials"])
    token = api.post("/token", data={"grant_type": "client_credentials"}, auth=(client.client_id, client.secret))
    return bearer(token.json["access_token"])


@pytest.fixture
def identity_specs(identity_app, make_client, make_account):
    api = identity_app.test_client()
    portal = make_client(scope="openid profile email offline_access")
    account = make_account()
    basic = {"Authorization": "Basic " + base64.b64encode(f"{portal.client_id}:{portal.secret}".encode()).decode()}
    tokens, _ = login_and_exchange(Browser(identity_app), api, portal, account, scope="openid profile offline_access")
    admin = _client_credentials(api, make_client, "identity:admin")
    accounts_api = _client_credentials(api, make_client, "identity:accounts")
    _, challenge = pkce_pair()
    authorization = (("response_type", "code"), ("client_id", portal.client_id), ("redirect_uri", portal.redirect_uri),
                     ("scope", "openid profile"), ("state", "s1"), ("nonce", "n1"), ("code_challenge", challenge),
                     ("code_challenge_method", "S256"))

    def signed_in() -> tuple[Browser, str]:
        user = Browser(identity_app)
        user.sign_in(portal, account.username)
        return user, user.csrf()

    def pending() -> tuple[Browser, str, str]:
        """A browser in the middle of signing in: its interaction id and CSRF token."""
        user = Browser(identity_app)
        login_page = user.follow(user.authorize(portal)[0])  # (the page sets the CSRF token)
        return user, login_page.request.path.rsplit("/", 1)[-1], user.csrf()

    def signed_out() -> tuple[Browser, str]:
        user = Browser(identity_app)
        user.http.get("/recover/password")  # (any page sets the CSRF token)
        return user, user.csrf()

    def recovering() -> Endpoint:
        """A browser that asked for a password reset code: its recovery flow's page."""
        user, csrf = signed_out()
        started = user.http.post("/recover/password", data={"identifier": account.username, "csrf_token": csrf})
        flow = dict(zip(("kind", "flow_id"), urlsplit(started.headers["Location"]).path.split("/")[2:4]))
        fields = (("code", "123456"), ("action", "verify"), ("answer", "a"), ("password", "p"), ("confirm", "p"))
        return Endpoint([Request("POST", flow, form=(*fields, ("csrf_token", csrf)), cookies="user"),
                         Request("GET", flow, cookies="user")], accept=PAGE, clients={"user": user.http})

    def page(*fields: tuple[str, str], path_vars=None, signed: bool = True, get: bool = False, post: bool = True):
        def spec() -> Endpoint:
            user, csrf = signed_in() if signed else signed_out()
            baselines = [Request("POST", path_vars or {}, form=(*fields, ("csrf_token", csrf)), cookies="user")
                         ] if post else []
            if get:
                baselines.append(Request("GET", path_vars or {}, cookies="user"))
            return Endpoint(baselines, accept=PAGE, clients={"user": user.http})
        return spec

    def interaction(*fields: tuple[str, str], json_body=None):
        def spec() -> Endpoint:
            user, uid, csrf = pending()
            request = (Request("POST", {"uid": uid}, json=json_body, headers=(("X-CSRF-Token", csrf),), cookies="user")
                       if json_body is not None else
                       Request("POST", {"uid": uid}, form=(*fields, ("csrf_token", csrf)), cookies="user"))
            return Endpoint([request, Request("GET", {"uid": uid}, cookies="user")], accept=PAGE,
                            clients={"user": user.http})
        return spec

    def passkey_json(body: dict | None):
        """The security page's passkey calls (JSON, CSRF in a header) by a signed-in user."""
        def spec() -> Endpoint:
            user, csrf = signed_in()
            return Endpoint([Request("POST", json=body, headers=(("X-CSRF-Token", csrf),), cookies="user")],
                            accept=PAGE, clients={"user": user.http})
        return spec

    def logging_out() -> Endpoint:
        user, csrf = signed_in()
        hint = (("id_token_hint", tokens["id_token"]), ("client_id", portal.client_id))
        return Endpoint([Request("GET", query=(*hint, ("state", "s")), cookies="user"),
                         Request("POST", form=(*hint, ("confirm", "yes"), ("csrf_token", csrf)), cookies="user")],
                        accept=PAGE, clients={"user": user.http})

    def api_spec(headers: dict, *baselines: Request):
        auth = tuple(headers.items())
        return lambda: Endpoint([Request(b.method, b.path_vars, b.query, b.form, b.json, auth) for b in baselines])

    new_client = {"name": "Fuzzed portal", "redirect_uris": ["https://fuzz.example/cb"], "scope": "openid profile",
                  "grant_types": ["authorization_code", "refresh_token"], "jwks": {"keys": []}}
    account_id = str(account.id)
    return {
        "health.healthz": plain, "health.readyz": plain, "health.metrics": plain,
        "discovery.openid_configuration": plain, "discovery.oauth_authorization_server": plain,
        "discovery.jwks": plain, "discovery.smart_configuration": plain,
        "authorize.authorize": lambda: Endpoint([Request("GET", query=authorization),
                                                 Request("POST", form=authorization)], accept=PAGE),
        "token.token": lambda: Endpoint([
            Request("POST", form=(("grant_type", "authorization_code"), ("code", "not-a-code"),
                                  ("redirect_uri", portal.redirect_uri), ("code_verifier", "v" * 43)),
                    headers=tuple(basic.items())),
            Request("POST", form=(("grant_type", "refresh_token"), ("refresh_token", "not-a-token"),
                                  ("client_id", portal.client_id), ("client_secret", portal.secret))),
            Request("POST", form=(("grant_type", "client_credentials"), ("scope", "openid"),
                                  ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                                  ("client_assertion", "a.b.c")))]),
        "token.revoke": lambda: Endpoint([Request("POST", form=(("token", "not-a-token"),
                                                                ("token_type_hint", "refresh_token")),
                                                  headers=tuple(basic.items()))]),
        "token.introspect": lambda: Endpoint([Request("POST", form=(("token", tokens["access_token"]),
                                                                    ("token_type_hint", "access_token")),
                                                      headers=tuple(basic.items()))]),
        "userinfo.userinfo": lambda: Endpoint([
            Request("GET", headers=tuple(bearer(tokens["access_token"]).items())),
            Request("POST", form=(("access_token", tokens["access_token"]),))]),
        "logout.logout": logging_out,
        "interaction.show": interaction(),
        "interaction.login": interaction(("username", account.username), ("password", "wrong password here")),
        "interaction.second_factor": interaction(("code", "123456"), ("action", "verify"), ("remember", "yes")),
        "interaction.passkey_options": interaction(json_body={}),
        "interaction.passkey_sign_in": interaction(json_body={"challenge_id": "c", "credential": {
            "id": "x", "rawId": "x", "type": "public-key", "response": {"clientDataJSON": "e30",
                                                                       "authenticatorData": "AA", "signature": "AA"}}}),
        "interaction.select": interaction(("patient_id", "p1")),
        "interaction.consent": interaction(("decision", "allow")),
        "account.overview": page(get=True, post=False),
        "account.login": page(("username", account.username), ("password", "wrong password here"), signed=False,
                              get=True),
        "account.end": page(path_vars={"sid": "s" * 20}),
        "security.overview": page(get=True, post=False),
        "security.change_password": page(("current_password", "wrong password here"),
                                         ("password", "a new password that is long"),
                                         ("confirm", "a new password that is long")),
        "security.change_contact": page(("email", "new@example.org"), ("phone", "+15555550100"), ("channel", "sms"),
                                        ("current_password", "x")),
        "security.phone_factor": page(("enabled", "yes"), ("current_password", "x")),
        "security.set_question": page(("question", "first pet"), ("answer", "rex"), ("current_password", "x")),
        "security.forget_device": page(path_vars={"device_key": "d" * 16}),
        "security.begin_totp": page(),
        "security.confirm_totp": page(("code", "123456")),
        "security.remove_totp": page(("current_password", "x")),
        "security.passkey_options": passkey_json(None),
        "security.add_passkey": passkey_json({"challenge_id": "c", "name": "key", "credential": {"id": "x"}}),
        "security.remove_passkey": page(("current_password", "x"), path_vars={"passkey_id": "p1"}),
        "recovery.password": page(("identifier", account.username), ("channel", "email"), signed=False, get=True),
        "recovery.user_id": page(("email", "pat@example.org"), ("birth_date", "1980-01-01"), signed=False, get=True),
        "recovery.code": recovering,
        "handoff.redeem": lambda: Endpoint([Request("GET", query=(("token", "t" * 40),))], accept=PAGE),
        "admin_api.list_clients": api_spec(admin, Request("GET")),
        "admin_api.create_client": api_spec(admin, Request("POST", json=new_client)),
        "admin_api.show_client": api_spec(admin, Request("GET", {"client_id": portal.client_id})),
        "admin_api.update_client": api_spec(admin, Request("PATCH", {"client_id": portal.client_id}, json={
            "name": "Renamed", "redirect_uris": [portal.redirect_uri]})),
        "admin_api.disable_client": api_spec(admin, Request("POST", {"client_id": "no-such-client"})),
        "admin_api.rotate_secret": api_spec(admin, Request("POST", {"client_id": "no-such-client"})),
        "internal_api.create_account": api_spec(accounts_api, Request("POST", json={
            "username": f"fz-{uuid.uuid4().hex[:8]}", "password": "a long enough password here",
            "email": "f@example.org", "given_name": "F", "family_name": "Z", "phone": "+15555550100",
            "practice_id": "p1", "birth_date": "1980-01-01"})),
        "internal_api.link": api_spec(accounts_api, Request("POST", {"account_id": account_id}, json={
            "practice_id": "p1", "patient_id": "pt1", "relationship": "self", "display_name": "Pat",
            "valid_until": "2099-01-01T00:00:00+00:00"})),
        "internal_api.links": api_spec(accounts_api, Request("GET", {"account_id": account_id})),
        "internal_api.account": api_spec(accounts_api, Request("GET", {"account_id": account_id})),
        "internal_api.handoff": api_spec(accounts_api, Request("POST", json={
            "account_id": account_id, "client_id": portal.client_id, "return_to": portal.redirect_uri})),
        "internal_api.security_question_list": api_spec(accounts_api, Request("GET", {"account_id": account_id})),
        "internal_api.security_question_check": api_spec(accounts_api, Request(
            "POST", {"account_id": account_id}, json={"answers": {"first pet": "rex"}})),
    }


def test_no_endpoint_answers_bad_input_with_a_5xx_or_a_foreign_format(identity_app, identity_specs):
    failures, sent = fuzz(identity_app, identity_specs, formats)
    assert not failures, report("identity", failures, sent)
