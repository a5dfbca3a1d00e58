"""Client registration: ``carekey identity clients ...`` and the admin HTTP API (``identity:admin``)."""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import uuid
from datetime import datetime
from urllib.parse import urlencode

import pytest

from services.identity.db.models import Client
from tests.identity.conftest import pkce_pair
from tests.identity.steps import bearer, login_and_exchange

HEX64 = re.compile(r"^[0-9a-f]{64}$")


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def stored(identity_db, client_id: str) -> Client | None:
    with identity_db() as session:
        return session.get(Client, client_id)


def client_credentials(api, client_id: str, secret: str | None, **extra):
    return api.post("/token", data={"grant_type": "client_credentials", **extra}, auth=(client_id, secret or ""))


def authorize(api, client_id: str, redirect_uri: str):
    _, challenge = pkce_pair()
    return api.get("/authorize?" + urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": "openid",
        "state": "s", "nonce": "n", "code_challenge": challenge, "code_challenge_method": "S256"}))


# -- the command line --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def carekey(suite):
    """Run ``python -m services.cli`` against the suite's identity database (SQLite or PostgreSQL)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("IDENTITY_", "CAREKEY_")) and k not in ("DATABASE_URL", "AMQP_URL")}
    env.update(suite.environ("identity"))

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "services.cli", "identity", *args], env=env,
                              capture_output=True, text=True, check=False, timeout=120)
    return run


def one_json_object(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    body = json.loads(result.stdout)  # the whole of stdout is one JSON document
    assert isinstance(body, dict)
    return body


def refused(result: subprocess.CompletedProcess) -> str:
    """A non-zero exit with one ``Error:`` line, nothing on stdout and no traceback."""
    assert result.returncode != 0, result.stdout
    assert result.stdout == ""
    assert "Traceback" not in result.stderr and "File \"" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def test_cli_create_prints_the_secret_once_and_stores_only_its_digest(carekey, identity_db):
    name = f"Portal {uuid.uuid4().hex[:6]}"
    body = one_json_object(carekey("clients", "create", "--name", name, "--redirect-uri", "https://p1.example/cb",
                                   "--first-party", "--practice", "p1", "--scope", "openid profile"))
    client_id, secret = body["client_id"], body["client_secret"]
    assert client_id and len(secret) >= 32
    assert body["name"] == name and body["redirect_uris"] == ["https://p1.example/cb"]
    assert body["first_party"] is True and body["practice_id"] == "p1" and body["scope"] == "openid profile"
    assert body["public"] is False and body["token_endpoint_auth_method"] == "client_secret_basic"
    assert body["disabled"] is False and "secret_digest" not in body

    row = stored(identity_db, client_id)
    assert HEX64.match(row.secret_digest) and row.secret_digest == sha256(secret)
    assert secret not in json.dumps({c.name: getattr(row, c.name) for c in Client.__table__.columns}, default=str)

    listed = carekey("clients", "list")
    assert listed.returncode == 0, listed.stderr
    clients = json.loads(listed.stdout)
    assert isinstance(clients, list) and client_id in {c["client_id"] for c in clients}
    shown = one_json_object(carekey("clients", "show", client_id))
    assert shown["client_id"] == client_id and shown["practice_id"] == "p1"
    for output in (listed.stdout, json.dumps(shown)):
        assert secret not in output and row.secret_digest not in output
    for described in (*clients, shown):
        assert not {"client_secret", "secret_digest", "secret"} & set(described)


def test_cli_public_client_has_no_secret(carekey, identity_db):
    body = one_json_object(carekey("clients", "create", "--name", "Mobile app", "--public",
                                   "--redirect-uri", "com.example.app:/callback"))
    assert "client_secret" not in body
    assert body["public"] is True and body["token_endpoint_auth_method"] == "none"
    assert stored(identity_db, body["client_id"]).secret_digest is None


def test_cli_rotate_secret_retires_the_old_one_and_disable_locks_the_client_out(carekey, identity_db, api):
    created = one_json_object(carekey("clients", "create", "--name", "Registration service",
                                      "--grant-type", "client_credentials", "--scope", "identity:accounts"))
    client_id, old = created["client_id"], created["client_secret"]
    assert created["grant_types"] == ["client_credentials"] and created["redirect_uris"] == []
    first = client_credentials(api, client_id, old)
    assert first.status_code == 200, first.json
    assert first.json["scope"] == "identity:accounts"

    rotated = one_json_object(carekey("clients", "update", client_id, "--rotate-secret"))
    new = rotated["client_secret"]
    assert new and new != old and rotated["client_id"] == client_id
    assert stored(identity_db, client_id).secret_digest == sha256(new)
    refused_old = client_credentials(api, client_id, old)
    assert refused_old.status_code == 401 and refused_old.json["error"] == "invalid_client"
    assert client_credentials(api, client_id, new).status_code == 200

    disabled = one_json_object(carekey("clients", "disable", client_id))
    assert disabled["disabled"] is True and "client_secret" not in disabled
    locked_out = client_credentials(api, client_id, new)
    assert locked_out.status_code == 401 and locked_out.json["error"] == "invalid_client"
    assert one_json_object(carekey("clients", "show", client_id))["disabled"] is True


def test_cli_update_replaces_redirect_uris(carekey, api):
    created = one_json_object(carekey("clients", "create", "--name", "Portal", "--first-party",
                                      "--redirect-uri", "https://before.example/cb"))
    client_id = created["client_id"]
    updated = one_json_object(carekey("clients", "update", client_id, "--redirect-uri", "https://after.example/cb",
                                      "--name", "Renamed portal"))
    assert updated["redirect_uris"] == ["https://after.example/cb"] and updated["name"] == "Renamed portal"
    assert "client_secret" not in updated
    assert authorize(api, client_id, "https://before.example/cb").status_code == 400
    assert authorize(api, client_id, "https://after.example/cb").status_code == 303


@pytest.mark.parametrize("args, words", [
    (["create", "--name", "Evil", "--redirect-uri", "http://evil.example/cb"], "https"),
    (["create", "--name", "Evil", "--redirect-uri", "https://app.example/cb#token"], "fragment"),
    (["create", "--name", "Evil", "--redirect-uri", "javascript:alert(1)"], "scheme"),
    (["create", "--name", "Greedy", "--redirect-uri", "https://app.example/cb", "--scope", "openid everything"],
     "everything"),
    (["create", "--name", "Service", "--public", "--grant-type", "client_credentials"], "public"),
    (["create", "--name", "Keys", "--redirect-uri", "https://app.example/cb", "--jwks", "{not json"], ""),
    (["show", "no-such-client"], "no-such-client"),
    (["disable", "no-such-client"], "no-such-client"),
    (["update", "no-such-client", "--name", "x"], "no-such-client"),
])
def test_cli_bad_input_exits_non_zero_with_one_line(carekey, args, words):
    line = refused(carekey("clients", *args))
    assert words in line


def test_cli_update_refuses_a_bad_redirect_uri_and_keeps_the_client(carekey, identity_db):
    created = one_json_object(carekey("clients", "create", "--name", "Portal", "--redirect-uri",
                                      "https://kept.example/cb"))
    refused(carekey("clients", "update", created["client_id"], "--redirect-uri", "http://evil.example/cb"))
    assert stored(identity_db, created["client_id"]).redirect_uris == ["https://kept.example/cb"]


def test_cli_refuses_a_redirect_uri_with_an_empty_fragment(carekey):
    refused(carekey("clients", "create", "--name", "Evil", "--redirect-uri", "https://app.example/cb#"))


# -- the admin HTTP API ------------------------------------------------------------------------
def service_token(api, make_client, scope: str) -> str:
    client = make_client(redirect_uris=[], scope=scope, grant_types=["client_credentials"])
    response = client_credentials(api, client.client_id, client.secret)
    assert response.status_code == 200, response.json
    return response.json["access_token"]


@pytest.fixture
def admin(api, make_client) -> dict:
    return bearer(service_token(api, make_client, "identity:admin"))


def problem(response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "application/problem+json"
    body = response.json
    assert body["status"] == status and body["detail"]
    return body


def test_admin_api_needs_a_bearer_token(api):
    response = api.get("/admin/clients")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    forged = api.get("/admin/clients", headers=bearer("not.a.token"))
    assert forged.status_code == 401 and 'error="invalid_token"' in forged.headers["WWW-Authenticate"]
    for method, path in [("post", "/admin/clients"), ("get", "/admin/clients/x"), ("patch", "/admin/clients/x"),
                         ("post", "/admin/clients/x/disable"), ("post", "/admin/clients/x/secret")]:
        assert getattr(api, method)(path, json={}).status_code == 401, path


def test_admin_api_needs_the_admin_scope(api, make_client):
    token = service_token(api, make_client, "identity:accounts")
    response = api.get("/admin/clients", headers=bearer(token))
    assert response.status_code == 403
    challenge = response.headers["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge and 'scope="identity:admin"' in challenge
    created = api.post("/admin/clients", json={"name": "Sneaky", "redirect_uris": ["https://s.example/cb"]},
                       headers=bearer(token))
    assert created.status_code == 403


def test_admin_api_refuses_a_user_access_token(api, browser, make_client, make_account, suite):
    portal = make_client(scope="openid profile identity:admin")
    token, _ = login_and_exchange(browser, api, portal, make_account(), scope="openid identity:admin")
    response = api.get("/admin/clients", headers=bearer(token["access_token"]))
    assert response.status_code == 401 and 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_admin_api_client_lifecycle(api, admin, identity_db):
    created = api.post("/admin/clients", headers=admin, json={
        "name": "Practice portal", "redirect_uris": ["https://old.example/cb"], "first_party": True,
        "practice_id": "p9", "scope": "openid profile"})
    assert created.status_code == 201, created.json
    client_id, secret = created.json["client_id"], created.json["client_secret"]
    assert created.json["redirect_uris"] == ["https://old.example/cb"] and created.json["practice_id"] == "p9"
    assert stored(identity_db, client_id).secret_digest == sha256(secret)

    listed = api.get("/admin/clients", headers=admin)
    assert listed.status_code == 200 and client_id in {c["client_id"] for c in listed.json}
    shown = api.get(f"/admin/clients/{client_id}", headers=admin)
    assert shown.status_code == 200 and shown.json["name"] == "Practice portal"
    for response in (listed, shown):
        text = response.get_data(as_text=True)
        assert secret not in text and sha256(secret) not in text
    for described in (*listed.json, shown.json):
        assert not {"client_secret", "secret_digest", "secret"} & set(described)

    assert authorize(api, client_id, "https://old.example/cb").status_code == 303
    patched = api.patch(f"/admin/clients/{client_id}", headers=admin,
                        json={"redirect_uris": ["https://new.example/cb"]})
    assert patched.status_code == 200 and patched.json["redirect_uris"] == ["https://new.example/cb"]
    assert patched.json["name"] == "Practice portal" and patched.json["practice_id"] == "p9", "a partial update"
    assert "client_secret" not in patched.json
    old_uri = authorize(api, client_id, "https://old.example/cb")
    assert old_uri.status_code == 400 and "Location" not in old_uri.headers
    assert old_uri.mimetype == "text/html"
    new_uri = authorize(api, client_id, "https://new.example/cb")
    assert new_uri.status_code == 303 and "/interaction/" in new_uri.headers["Location"]

    disabled = api.post(f"/admin/clients/{client_id}/disable", headers=admin)
    assert disabled.status_code == 200 and disabled.json["disabled"] is True
    assert api.get(f"/admin/clients/{client_id}", headers=admin).json["disabled"] is True
    assert authorize(api, client_id, "https://new.example/cb").status_code == 400
    assert stored(identity_db, client_id).disabled_at is not None


def test_admin_api_secret_rotation(api, admin, identity_db):
    created = api.post("/admin/clients", headers=admin, json={
        "name": "Worker", "grant_types": ["client_credentials"], "scope": "identity:accounts"})
    assert created.status_code == 201, created.json
    client_id, old = created.json["client_id"], created.json["client_secret"]
    assert client_credentials(api, client_id, old).status_code == 200

    rotated = api.post(f"/admin/clients/{client_id}/secret", headers=admin)
    assert rotated.status_code == 200 and rotated.json["client_id"] == client_id
    new = rotated.json["client_secret"]
    assert new != old and stored(identity_db, client_id).secret_digest == sha256(new)
    stale = client_credentials(api, client_id, old)
    assert stale.status_code == 401 and stale.json["error"] == "invalid_client"
    assert client_credentials(api, client_id, new).status_code == 200

    api.post(f"/admin/clients/{client_id}/disable", headers=admin)
    locked_out = client_credentials(api, client_id, new)
    assert locked_out.status_code == 401 and locked_out.json["error"] == "invalid_client"


def test_admin_api_public_client_has_no_secret_to_rotate(api, admin, identity_db):
    created = api.post("/admin/clients", headers=admin, json={
        "name": "Mobile", "public": True, "redirect_uris": ["com.example.app:/cb"]})
    assert created.status_code == 201 and "client_secret" not in created.json
    assert created.json["token_endpoint_auth_method"] == "none"
    response = api.post(f"/admin/clients/{created.json['client_id']}/secret", headers=admin)
    assert 400 <= response.status_code < 500 and "client_secret" not in (response.json or {})
    assert stored(identity_db, created.json["client_id"]).secret_digest is None


def test_admin_api_field_errors_are_problem_details(api, admin):
    count = len(api.get("/admin/clients", headers=admin).json)
    body = problem(api.post("/admin/clients", headers=admin, json={
        "name": "", "redirect_uris": "https://not-a-list.example/cb", "public": "perhaps"}), 400)
    assert {"name", "redirect_uris", "public"} <= set(body["errors"])
    unknown = problem(api.post("/admin/clients", headers=admin, json={"name": "X", "colour": "red"}), 400)
    assert "colour" in unknown["errors"]
    insecure = problem(api.post("/admin/clients", headers=admin, json={
        "name": "Evil", "redirect_uris": ["http://evil.example/cb"]}), 400)
    assert "http://evil.example/cb" in insecure["detail"]
    problem(api.post("/admin/clients", headers=admin, json={
        "name": "Greedy", "redirect_uris": ["https://g.example/cb"], "scope": "openid everything"}), 400)
    problem(api.post("/admin/clients", headers=admin, data="name=form", content_type="application/json"), 400)
    problem(api.post("/admin/clients", headers=admin, json=["not", "an", "object"]), 400)
    assert len(api.get("/admin/clients", headers=admin).json) == count, "nothing was registered"


def test_admin_api_patch_validates_too(api, admin):
    created = api.post("/admin/clients", headers=admin, json={
        "name": "Portal", "redirect_uris": ["https://keep.example/cb"]}).json
    path = f"/admin/clients/{created['client_id']}"
    problem(api.patch(path, headers=admin, json={"redirect_uris": ["https://keep.example/cb#frag"]}), 400)
    problem(api.patch(path, headers=admin, json={"scope": "openid everything"}), 400)
    assert "colour" in problem(api.patch(path, headers=admin, json={"colour": "red"}), 400)["errors"]
    assert "name" in problem(api.patch(path, headers=admin, json={"name": ""}), 400)["errors"]
    assert api.get(path, headers=admin).json["redirect_uris"] == ["https://keep.example/cb"]


@pytest.mark.parametrize("method, suffix", [("get", ""), ("patch", ""), ("post", "/disable"), ("post", "/secret")])
def test_admin_api_unknown_client_is_404_problem(api, admin, method, suffix):
    response = getattr(api, method)(f"/admin/clients/no-such-{uuid.uuid4().hex[:6]}{suffix}", headers=admin,
                                    json={"name": "x"})
    assert problem(response, 404)["code"] == "not_found"


def test_admin_api_responses_with_a_secret_are_not_cached(api, admin):
    created = api.post("/admin/clients", headers=admin, json={
        "name": "Worker", "grant_types": ["client_credentials"], "scope": "identity:accounts"})
    assert created.status_code == 201 and created.json["client_secret"]
    assert "no-store" in created.headers.get("Cache-Control", "")
    rotated = api.post(f"/admin/clients/{created.json['client_id']}/secret", headers=admin)
    assert rotated.status_code == 200 and rotated.json["client_secret"]
    assert "no-store" in rotated.headers.get("Cache-Control", "")


def test_admin_api_times_are_utc_and_stable(api, admin, suite, request):
    created = api.post("/admin/clients", headers=admin, json={
        "name": "Portal", "redirect_uris": ["https://times.example/cb"]}).json
    shown = api.get(f"/admin/clients/{created['client_id']}", headers=admin).json
    assert datetime.fromisoformat(created["created_at"]).utcoffset() is not None
    assert shown["created_at"] == created["created_at"]
