"""RFC 6749 §3.1 and §3.2: a request parameter must not be included more than once. Every OAuth
endpoint refuses a repeated parameter: repeated in the query, in the body, or sent once in each.
Each request is otherwise good (a fresh code, a live token), so what refuses it is the repeat.

Where the error goes follows RFC 6749 §4.1.2.1 at the authorization endpoint: a repeated client_id
or redirect_uri leaves CareKey nowhere it may trust to send the user, so the user sees an error page
here; any other repeat goes back to the client's registered redirect URI as ``invalid_request``."""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import pytest

from tests.identity.conftest import Browser, callback_params, pkce_pair
from tests.identity.steps import bearer, login_and_exchange

AUTHORIZE = ("response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge",
             "code_challenge_method")
CASES = [
    *[("authorize GET", name, "query") for name in AUTHORIZE],
    *[("authorize POST", name, where) for name in AUTHORIZE for where in ("body", "query and body")],
    *[("token: code", name, where) for name in ("grant_type", "code", "redirect_uri", "code_verifier")
      for where in ("body", "query and body")],
    ("token: code", "client_id", "body"),
    *[("token: refresh", name, "body") for name in ("grant_type", "refresh_token", "scope")],
    *[(endpoint, name, where) for endpoint in ("revoke", "introspect") for name in ("token", "token_type_hint")
      for where in ("body", "query and body")],
    ("userinfo POST", "access_token", "body"),
    *[("logout", name, "query") for name in ("id_token_hint", "client_id", "state")],
]


@dataclass
class Good:
    """An endpoint's good request: its parameters, credentials, and what answers a repeat."""

    method: str
    path: str
    params: list[tuple[str, str]]
    refusal: str  # "redirect" | "page" | "json"
    auth: tuple[str, str] | None = None
    browser: Browser | None = None


@pytest.fixture
def signed_in(identity_app, make_client, make_account):
    client, account = make_client(scope="openid profile email offline_access"), make_account()
    user, api = Browser(identity_app), identity_app.test_client()
    tokens, _ = login_and_exchange(user, api, client, account, scope="openid profile offline_access")
    return client, account, user, tokens


def good_request(endpoint: str, signed_in) -> Good:
    client, account, user, tokens = signed_in
    secret = (client.client_id, client.secret)
    if endpoint.startswith("authorize"):
        _, challenge = pkce_pair()
        params = [("response_type", "code"), ("client_id", client.client_id), ("redirect_uri", client.redirect_uri),
                  ("scope", "openid profile"), ("state", "the-state"), ("nonce", "n-1"), ("code_challenge", challenge),
                  ("code_challenge_method", "S256")]
        return Good(endpoint.split()[1], "/authorize", params, "redirect", browser=user)
    if endpoint == "token: code":
        verifier, challenge = pkce_pair()
        response, _ = user.authorize(client, code_challenge=challenge, code_challenge_method="S256")
        code = callback_params(user.follow(response))["code"]
        return Good("POST", "/token", [("grant_type", "authorization_code"), ("code", code),
                                       ("redirect_uri", client.redirect_uri), ("code_verifier", verifier),
                                       ("client_id", client.client_id), ("client_secret", client.secret)], "json")
    if endpoint == "token: refresh":
        return Good("POST", "/token", [("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"]),
                                       ("scope", "openid")], "json", auth=secret)
    if endpoint in ("revoke", "introspect"):
        return Good("POST", f"/{endpoint}", [("token", tokens["refresh_token"]), ("token_type_hint", "refresh_token")],
                    "json", auth=secret)
    if endpoint == "userinfo POST":
        return Good("POST", "/userinfo", [("access_token", tokens["access_token"])], "json")
    return Good("GET", "/logout", [("id_token_hint", tokens["id_token"]), ("client_id", client.client_id),
                                   ("state", "bye")], "page", browser=user)


def send(api, good: Good, name: str, where: str):
    repeat = next((k, v) for k, v in good.params if k == name)
    query, body = (good.params + [repeat], []) if good.method == "GET" else \
        ([], good.params + [repeat]) if where == "body" else ([repeat], good.params)
    http = good.browser.http if good.browser else api
    return http.open(good.path + (f"?{urlencode(query)}" if query else ""), method=good.method,
                     data=urlencode(body) if body else None, auth=good.auth,
                     content_type="application/x-www-form-urlencoded" if body else None,
                     headers={"Accept": "text/html"} if good.refusal != "json" else {})


@pytest.mark.parametrize("endpoint, name, where", CASES, ids=[" ".join(case) for case in CASES])
def test_a_repeated_parameter_is_refused(api, signed_in, endpoint, name, where, suite):
    client = signed_in[0]
    good = good_request(endpoint, signed_in)
    response = send(api, good, name, where)
    if good.refusal == "json":
        assert response.status_code == 400, response.get_data(as_text=True)
        assert response.json["error"] == "invalid_request" and name in response.json["error_description"]
        assert "access_token" not in response.json and response.headers["Cache-Control"] == "no-store"
    elif good.refusal == "redirect" and name not in ("client_id", "redirect_uri"):
        result = callback_params(response)
        assert response.headers["Location"].startswith(client.redirect_uri + "?")
        assert result["error"] == "invalid_request" and "code" not in result
        assert result["iss"] == suite.settings["identity"].public_url
        assert result.get("state") == (None if name == "state" else "the-state")
    else:  # an error page here, never a redirect
        assert response.status_code == 400 and "Location" not in response.headers
        assert response.mimetype == "text/html"


def test_basic_credentials_and_a_client_id_in_the_body_are_no_repeat(api, signed_in):
    client, _, user, _ = signed_in
    verifier, challenge = pkce_pair()
    response, _ = user.authorize(client, code_challenge=challenge, code_challenge_method="S256")
    code = callback_params(user.follow(response))["code"]
    token = api.post("/token", auth=(client.client_id, client.secret), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": client.redirect_uri,
        "code_verifier": verifier, "client_id": client.client_id})
    assert token.status_code == 200, token.json
    assert api.get("/userinfo", headers=bearer(token.json["access_token"])).status_code == 200
