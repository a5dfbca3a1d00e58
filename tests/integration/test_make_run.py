"""`carekey run` (what `make run` starts): four services ready, URLs printed, Ctrl-C stops all,
and a second run on the same files works."""
from __future__ import annotations

import html
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import date

import pytest
import requests

from services import SERVICES
from services.demo import registration as demo
from tests.helpers import free_ports, http_status, wait_until

PORTALS = ("riverside", "hillside")  # the demo practices' portals (examples/portal)






@pytest.fixture
def embedded_env(tmp_path):
    env = {key: value for key, value in os.environ.items()
           if key not in ("AMQP_URL", "DATABASE_URL", "CAREKEY_ENV") and not key.endswith("_DATABASE_URL")}
    ports = dict(zip([*SERVICES, *PORTALS], free_ports(len(SERVICES) + len(PORTALS))))
    env.update({f"{service.upper()}_PORT": str(ports[service]) for service in SERVICES})
    env.update({f"PORTAL_{practice.upper()}_PORT": str(ports[practice]) for practice in PORTALS})
    return env, ports


def start(cwd, env) -> tuple[subprocess.Popen, list[str]]:
    process = subprocess.Popen([sys.executable, "-m", "services.cli", "run"], cwd=cwd, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    lines = []
    deadline = time.monotonic() + 60
    for line in process.stdout:
        lines.append(line)
        if "Press Ctrl-C to stop" in line or time.monotonic() > deadline:
            break
    return process, lines


def stop(process: subprocess.Popen) -> int:
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends to the process group
    try:
        return process.wait(timeout=30)
    finally:
        process.stdout.close()


def test_run_starts_every_service_ready_prints_urls_and_stops_cleanly(tmp_path, embedded_env):
    env, ports = embedded_env
    for attempt in ("first run", "second run on the same files"):
        started = time.monotonic()
        process, lines = start(tmp_path, env)
        try:
            output = "".join(lines)
            assert "Press Ctrl-C to stop" in output, f"{attempt}: {output[-2000:]}"
            assert time.monotonic() - started < 60
            for service, port in ports.items():
                assert f"http://127.0.0.1:{port}" in output
                assert http_status(f"http://127.0.0.1:{port}/readyz") == 200, (attempt, service)
        finally:
            code = stop(process)
        assert code == 0, attempt
        assert all(http_status(f"http://127.0.0.1:{port}/healthz") == 0 for port in ports.values()), \
            f"{attempt}: every process stopped"
    assert {p.name for p in (tmp_path / "var").glob("*.sqlite")} == {
        "broker.sqlite", *(f"{service}.sqlite" for service in SERVICES)}


def test_run_refuses_a_busy_port_with_a_clear_message(tmp_path, embedded_env):
    env, ports = embedded_env
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", ports["records"]))
        blocker.listen()
        result = subprocess.run([sys.executable, "-m", "services.cli", "run"], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"records (127.0.0.1:{ports['records']})" in result.stderr and "RECORDS_PORT=" in result.stderr
    assert "Traceback" not in result.stderr


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Visitor:
    """A patient's browser over HTTP: cookies kept, redirects followed, each form's CSRF token sent."""

    def __init__(self) -> None:
        self.http = requests.Session()
        self.page: requests.Response | None = None

    def get(self, url: str) -> requests.Response:
        self.page = self.http.get(url, timeout=30)
        return self.page

    def submit(self, data: dict, url: str | None = None) -> requests.Response:
        token = CSRF.search(self.page.text).group(1)
        self.page = self.http.post(url or self.page.url, data={"csrf_token": token, **data}, timeout=30)
        return self.page


def _outbox(url: str, pattern: str, count: int = 1) -> list[str]:
    """What the local outbox shows matching *pattern* (newest first), once it shows *count* of them."""
    def found():
        matches = re.findall(pattern, html.unescape(requests.get(f"{url}/outbox", timeout=10).text))
        return matches if len(matches) >= count else None
    matches = wait_until(found, timeout=30, interval=0.3)
    assert matches, f"the outbox never showed {pattern!r}"
    return matches


def test_with_every_port_moved_the_whole_registration_journey_follows(tmp_path, embedded_env):
    """`IDENTITY_PORT=... REGISTRATION_PORT=... make run`: every URL one service derives from another's port
    (issuer, audiences, registration's callback, the links in emails) follows it, and so do `carekey`
    commands typed in another terminal with no port variables set."""
    env, ports = embedded_env
    assert not set(ports.values()) & {8001, 8002, 8003, 8004, 8101, 8102}
    url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    process, lines = start(tmp_path, env)
    try:
        assert "Press Ctrl-C to stop" in "".join(lines), "".join(lines)[-3000:]
        terminal = {key: value for key, value in env.items() if not key.endswith("_PORT")}

        def carekey(*args: str) -> str:
            result = subprocess.run([sys.executable, "-m", "services.cli", *args], cwd=tmp_path, env=terminal,
                                    capture_output=True, text=True, timeout=120)
            assert result.returncode == 0, result.stdout + result.stderr
            return result.stdout

        # the office invites Noah Rivera (14) from another terminal: the email links to registration where it runs
        carekey("registration", "invite", "--practice", "riverside", "--mrn", "rv-1003")
        # (the demo seed invited Alex before; Noah's is the newest)
        link = _outbox(url["notifications"], rf"({re.escape(url['registration'])}/invite/\S+)", count=2)[0]
        noah = next(p for p in demo.PATIENTS if p[1] == "rv-1003")
        born = demo.born(noah[4], *noah[5], date.today())

        patient = Visitor()
        assert "Tell us who you are" in patient.get(link).text
        page = patient.submit({"given_name": "Noah", "family_name": "Rivera", "birth_date": f"{born:%m/%d/%Y}",
                               "zip": noah[7]})
        assert page.url.endswith("/enroll/prove"), page.text[:500]
        page = patient.submit({"method": "email"})
        assert page.url.endswith("/enroll/code"), page.text[:500]
        code = _outbox(url["notifications"], r"\b(\d{6})\b")[0]
        page = patient.submit({"code": code})
        assert page.url.endswith("/enroll/account"), page.text[:500]
        password = "moved ports keep every promise"
        page = patient.submit({"username": "noah.moved", "email": "noah.rivera@example.org", "password": password,
                               "confirm": password, "accept": "yes"})
        assert page.url.endswith("/enroll/done"), page.text[:500]
        # Continue: the one-time sign-in at identity (moved), then the portal (moved), signed in by SSO
        page = patient.submit({}, url=f"{url['registration']}/enroll/continue")
        assert page.url.startswith(url["riverside"]), page.url
        assert "Noah Rivera" in page.text, page.text[:1000]

        # Connect: registration's own sign-in client, its callback on the moved port
        page = patient.get(f"{url['registration']}/practices/hillside/connect")
        assert page.url == f"{url['registration']}/enroll/identify", (page.url, page.text[:500])

        # an operator's $match: a token from identity (moved) carries registration's (moved) audience
        made = json.loads(carekey("identity", "clients", "create", "--name", "Front desk system",
                                  "--scope", "registration:match", "--grant-type", "client_credentials"))
        token = requests.post(f"{url['identity']}/token", auth=(made["client_id"], made["client_secret"]),
                              data={"grant_type": "client_credentials", "scope": "registration:match"}, timeout=30)
        assert token.status_code == 200, token.text
        match = requests.post(f"{url['registration']}/Patient/$match?practice=riverside", timeout=30,
                              headers={"Authorization": f"Bearer {token.json()['access_token']}",
                                       "Content-Type": "application/fhir+json"},
                              json={"resourceType": "Patient", "name": [{"given": ["Noah"], "family": "Rivera"}],
                                    "birthDate": born.isoformat()})
        assert match.status_code == 200, match.text
        assert match.json()["entry"][0]["resource"]["id"] == "rv-1003"
    finally:
        assert stop(process) == 0
