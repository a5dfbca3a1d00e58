"""Instructions per request, counted by valgrind (callgrind): the evidence for a code change that
a noisy, shared machine cannot blur (throughput and CPU time move with the neighbours; executed
instructions do not). The app runs in-process on PostgreSQL; the database's own work is not counted.

    python -m bench.instructions setup            # fresh carekey_instr_* databases, seeded
    python -m bench.instructions count FLOW...    # under callgrind, twice (20 and 120 requests)
    python -m bench.instructions teardown

FLOW: client_credentials, refresh_token, discovery, records_read, hello_flask. Per request =
(I(120) - I(20)) / 100, so start-up and warm-up cancel out. Needs valgrind (apt-get install valgrind).
"""
from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

STATE = Path(os.environ.get("BENCH_INSTR_STATE", "/tmp/carekey-bench-instructions.json"))
DATABASES = {"identity": "carekey_instr_identity", "records": "carekey_instr_records"}
ISSUER, RECORDS = "http://127.0.0.1:9001", "http://127.0.0.1:9004"
FLOWS = ("client_credentials", "refresh_token", "discovery", "records_read", "hello_flask", "password_sign_in",
         "argon2id")
FEW = ("password_sign_in", "argon2id")  # a hash is ~60 M instructions: counted over 2 and 12, not 20 and 120


def _admin() -> str:
    url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("set BENCH_DATABASE_URL (PostgreSQL)")
    return url


def _env(urls: dict) -> dict:
    return {**os.environ, "CAREKEY_ENV": "test", "LOG_LEVEL": "WARNING",
            "IDENTITY_DATABASE_URL": urls["identity"], "IDENTITY_PUBLIC_URL": ISSUER,
            "IDENTITY_RECORDS_AUDIENCE": RECORDS, "RECORDS_DATABASE_URL": urls["records"],
            "RECORDS_PUBLIC_URL": RECORDS, "RECORDS_IDENTITY_ISSUER": ISSUER, "RECORDS_AUDIENCE": RECORDS}


def setup() -> None:
    from bench.seed import PASSWORD, PORTAL_SCOPE, READER, REDIRECT_URI, seed_identity, seed_records
    from bench.suite import fresh_database
    from services import registry
    from shared.migrations import upgrade
    urls = {name: fresh_database(_admin(), db) for name, db in DATABASES.items()}
    env = _env(urls)
    for name in DATABASES:
        upgrade(registry.migrations(name, registry.settings(name, env)))
    seed = seed_identity(env, signin_users=1)
    seed_records(env)
    os.environ.update(env)
    app = registry.create_app("identity", registry.settings("identity", env))
    http = app.test_client()
    page = http.get("/authorize", query_string={"response_type": "code", "client_id": seed.portal.client_id,
                                                "redirect_uri": REDIRECT_URI, "scope": PORTAL_SCOPE, "state": "s"},
                    follow_redirects=True, base_url=ISSUER)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    done = http.post(page.request.path + "/login", data={"username": READER, "password": PASSWORD,
                                                          "csrf_token": csrf}, base_url=ISSUER)
    back = http.get(done.headers["Location"], base_url=ISSUER)
    code = parse_qs(urlsplit(back.headers["Location"]).query)["code"][0]
    token = http.post("/token", data={"grant_type": "authorization_code", "code": code,
                                      "redirect_uri": REDIRECT_URI},
                      headers={"Authorization": "Basic " + seed.portal.basic}, base_url=ISSUER).get_json()
    jwks = http.get("/.well-known/jwks.json", base_url=ISSUER).get_json()
    STATE.write_text(json.dumps({"urls": urls, "service_basic": seed.service.basic, "portal_basic": seed.portal.basic,
                                 "access_token": token["access_token"], "refresh_token": token["refresh_token"],
                                 "jwks": jwks}))
    print(f"bench: instruction-count databases ready ({STATE})")


def teardown() -> None:
    from bench.suite import drop_database
    for db in DATABASES.values():
        drop_database(_admin(), db)
    STATE.unlink(missing_ok=True)


def run(flow: str, count: int) -> None:
    """``count`` requests of ``flow`` in-process (what callgrind counts)."""
    state = json.loads(STATE.read_text())
    env = _env(state["urls"])
    os.environ.update(env)
    from services import registry
    if flow == "hello_flask":
        from bench.hello import flask as app
        http, call = app.test_client(), None
        call = lambda: http.get("/")  # noqa: E731
    elif flow == "argon2id":
        from services.identity.domain.passwords import HASHER

        class Done:
            status_code = 200
        call = lambda: (HASHER.hash("correct horse battery staple"), Done)[1]  # noqa: E731
    elif flow == "password_sign_in":
        app = registry.create_app("identity", registry.settings("identity", env))
        call = lambda: _sign_in(app, state, "bench-user-0", "openid")  # noqa: E731
    elif flow == "records_read":
        from bench.limits import _StaticJwks
        from bench.seed import PORTAL_SCOPE, READER
        identity = registry.create_app("identity", registry.settings("identity", env))
        token = _sign_in(identity, state, READER, PORTAL_SCOPE).get_json()["access_token"]  # fresh: tokens expire
        app = registry.create_app("records", registry.settings("records", env))
        app.extensions["carekey.records"].verifier.keys.http = _StaticJwks(state["jwks"])
        http = app.test_client()
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}
        call = lambda: http.get("/Observation?patient=rv-1001", headers=headers, base_url=RECORDS)  # noqa: E731
    else:
        app = registry.create_app("identity", registry.settings("identity", env))
        http = app.test_client()
        if flow == "client_credentials":
            headers = {"Authorization": "Basic " + state["service_basic"]}
            call = lambda: http.post("/token", data={"grant_type": "client_credentials"},  # noqa: E731
                                     headers=headers, base_url=ISSUER)
        elif flow == "discovery":
            call = lambda: http.get("/.well-known/jwks.json", base_url=ISSUER)  # noqa: E731
        elif flow == "refresh_token":
            headers = {"Authorization": "Basic " + state["portal_basic"]}
            current = [state["refresh_token"]]

            def call():
                answer = http.post("/token", data={"grant_type": "refresh_token", "refresh_token": current[0]},
                                   headers=headers, base_url=ISSUER)
                current[0] = answer.get_json()["refresh_token"]
                return answer
        else:
            raise SystemExit(f"unknown flow {flow}")
    for _ in range(count):
        answer = call()
        if answer.status_code not in (200, 304):
            raise SystemExit(f"{flow}: {answer.status_code} {answer.get_data(as_text=True)[:200]}")
    if flow == "refresh_token":  # the next run continues the chain
        state["refresh_token"] = current[0]
        STATE.write_text(json.dumps(state))


def _sign_in(app, state: dict, username: str, scope: str):
    """authorize → sign-in page → password → code → token, in-process (a fresh browser each time)."""
    from bench.seed import PASSWORD, REDIRECT_URI
    http = app.test_client()
    client_id = base64.b64decode(state["portal_basic"]).decode().split(":")[0]
    page = http.get("/authorize", query_string={"response_type": "code", "client_id": client_id,
                                                "redirect_uri": REDIRECT_URI, "scope": scope, "state": "s"},
                    follow_redirects=True, base_url=ISSUER)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    done = http.post(page.request.path + "/login", data={"username": username, "password": PASSWORD,
                                                          "csrf_token": csrf}, base_url=ISSUER)
    back = http.get(done.headers["Location"], base_url=ISSUER)
    code = parse_qs(urlsplit(back.headers["Location"]).query)["code"][0]
    token = http.post("/token", data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
                      headers={"Authorization": "Basic " + state["portal_basic"]}, base_url=ISSUER)
    return token


def _instructions(flow: str, count: int) -> int:
    out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                          sys.executable, "-m", "bench.instructions", "run", flow, str(count)],
                         cwd=ROOT, capture_output=True, text=True)
    found = re.search(r"Collected\s*:\s*(\d+)", out.stderr)
    if out.returncode != 0 or not found:
        raise SystemExit(f"callgrind failed for {flow}:\n{out.stderr[-2000:]}")
    return int(found.group(1))


def count(flows: list[str], low: int = 20, high: int = 120) -> dict[str, float]:
    results = {}
    for flow in flows:
        few_low, few_high = (2, 12) if flow in FEW else (low, high)
        per_request = (_instructions(flow, few_high) - _instructions(flow, few_low)) / (few_high - few_low)
        results[flow] = per_request
        print(f"{flow:<20} {per_request / 1e6:8.2f} M instructions per request", flush=True)
    return results


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("setup", "count", "run", "teardown"):
        print(__doc__)
        return 2
    if argv[0] == "setup":
        setup()
    elif argv[0] == "teardown":
        teardown()
    elif argv[0] == "run":
        run(argv[1], int(argv[2]))
    else:
        count([f for f in (argv[1:] or FLOWS)])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
