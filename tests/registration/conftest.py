"""Registration fixtures: identity and registration served over HTTP on free ports, the real message
path (registration's outbox → relay → broker → notifications worker → SMTP server / fake Twilio), an
operator token from identity, and a patient's browser (requests, following redirects, keeping cookies)."""
from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import threading
import uuid
from datetime import date
from email.message import Message
from types import SimpleNamespace

import pytest
import requests
from werkzeug.serving import make_server

from services import registry
from services.demo.registration_client import seed_registration_client
from services.identity.domain import clients
from services.registration.db.models import outbox as registration_outbox
from services.notifications.worker import build_consumer
from shared.database import make_session_factory, transaction
from shared.messaging.outbox import OutboxRelay
from shared.messaging.topology import WorkQueue
from tests.fakes import twilio as fake_twilio_module
from tests.fakes.smtp import FakeSmtp
from tests.fakes.twilio import FakeTwilio
from tests.helpers import wait_until
from tests.records.conftest import identity_server  # noqa: F401  (session fixture, served over HTTP)

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SECRET = "test-registration-client-secret-0123456789"


@pytest.fixture(scope="session")
def registration_server(suite, identity_server):  # noqa: F811
    holder = {}
    server = make_server("127.0.0.1", 0, lambda environ, start: holder["app"](environ, start), threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    with transaction(make_session_factory(suite.engines["identity"])) as session:
        seed_registration_client(session, {"REGISTRATION_PUBLIC_URL": url, "REGISTRATION_CLIENT_SECRET": SECRET,
                                           "REGISTRATION_CLIENT_ID": "carekey-registration"})
    base = suite.settings["registration"]
    # behind a (pretend) load balancer: each test browser sends its own X-Forwarded-For, so per-IP
    # limits apply per browser rather than to the whole test run from 127.0.0.1
    settings = dataclasses.replace(base, base=dataclasses.replace(base.base, public_url=url, trusted_proxies=1),
                                   identity_issuer=identity_server.url, client_id="carekey-registration",
                                   client_secret=SECRET,
                                   audience=identity_server.app.extensions["carekey.identity"].settings.registration_audience)
    app = registry.create_app("registration", settings)
    holder["app"] = app
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield SimpleNamespace(url=url, app=app, settings=settings)
    server.shutdown()


@pytest.fixture(scope="session")
def messages(suite, registration_server):
    """Mail and texts as patients receive them, through the real outbox, broker and worker."""
    smtp, twilio = FakeSmtp().start(), FakeTwilio()
    notify_settings = dataclasses.replace(
        suite.settings["notifications"], email_backend="smtp", smtp_port=smtp.port, sms_backend="twilio",
        twilio_account_sid=fake_twilio_module.ACCOUNT_SID, twilio_auth_token=fake_twilio_module.AUTH_TOKEN,
        twilio_from=fake_twilio_module.FROM_NUMBER, twilio_api_url=twilio.url, retry_backoff=(0.2, 0.4),
        per_recipient_hour=50, per_recipient_day=100, smtp_timeout=5.0)
    queue = WorkQueue(f"test.registration.{uuid.uuid4().hex[:8]}", routing_keys=("notification.requested",),
                      backoff=(0.2, 0.4))
    consumer = build_consumer(notify_settings, queue=queue)
    worker = threading.Thread(target=consumer.run, daemon=True)
    relay = OutboxRelay(make_session_factory(suite.engines["registration"]), registration_outbox,
                        suite.backends.amqp_url, idle_seconds=0.05, queues=queue.all_queues())
    relay._ensure_producer()  # declares the queue before anything is published
    stop = threading.Event()
    relay_thread = threading.Thread(target=relay.run, args=(stop,), daemon=True)
    worker.start()
    relay_thread.start()
    yield SimpleNamespace(smtp=smtp, twilio=twilio)
    stop.set()
    consumer.should_stop = True
    relay_thread.join(timeout=10)
    worker.join(timeout=15)
    relay.close()
    from shared.messaging.broker import connect
    with connect(suite.backends.amqp_url) as conn:
        for declared in queue.all_queues():
            try:
                declared(conn.default_channel).delete()
            except Exception:
                pass
    smtp.stop()
    twilio.close()


def latest_email(messages, address: str, count: int = 1, timeout: float = 15.0) -> Message:
    """The newest email to *address*, once at least *count* have arrived."""
    found = wait_until(lambda: len(messages.smtp.to(address)) >= count and messages.smtp.to(address),
                       timeout=timeout)
    assert found, f"no email reached {address}"
    return found[-1]


def email_text(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return part.get_payload(decode=True).decode()
    return ""


def latest_text(messages, phone_e164: str, count: int = 1, timeout: float = 15.0) -> str:
    found = wait_until(lambda: len(messages.twilio.sent("message", phone_e164)) >= count and
                       messages.twilio.sent("message", phone_e164), timeout=timeout)
    assert found, f"no text reached {phone_e164}"
    return found[-1].form["Body"]


def shown(response) -> str:
    """The page's text as a person reads it (entities decoded)."""
    import html
    return html.unescape(response.text)


def six_digits(text: str) -> str:
    match = re.search(r"\b(\d{6})\b", text)
    assert match, text
    return match.group(1)


@pytest.fixture(scope="session")
def operator(suite, identity_server, registration_server):  # noqa: F811
    """An operator's API session: a client-credentials token with registration:admin and :match."""
    with transaction(make_session_factory(suite.engines["identity"])) as session:
        client, secret = clients.create_client(session, clients.ClientSpec(
            name="Front desk", scope="registration:admin registration:match"))
        client_id = client.client_id
    token = requests.post(f"{identity_server.url}/token", data={"grant_type": "client_credentials",
                                                                "scope": "registration:admin registration:match"},
                          auth=(client_id, secret), timeout=10).json()["access_token"]
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    base = registration_server.url

    def call(method: str, path: str, **kwargs):
        return http.request(method, f"{base}{path}", timeout=15, **kwargs)
    return SimpleNamespace(call=call, token=token, client_id=client_id)


def registration_cli(suite, *args: str) -> subprocess.CompletedProcess:
    """``carekey registration ARGS`` as an operator runs it, against the test databases."""
    env = {**suite.environ("registration"), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "services.cli", "registration", *args], capture_output=True,
                          text=True, env=env, timeout=60)


def unique_family() -> str:
    """A surname no other test uses (letters only, so it normalises and sounds unique)."""
    letters = "".join(chr(ord("a") + int(c, 16) % 26) for c in uuid.uuid4().hex[:8])
    return "Q" + letters


@pytest.fixture
def practice(operator, registration_server, identity_server):  # noqa: F811
    """A practice of this test only, with a portal client at identity, and a roster helper."""
    practice_id = f"pr-{uuid.uuid4().hex[:10]}"
    portal = f"http://127.0.0.1:{59000 + int(uuid.uuid4().int % 900)}"
    portal_client = _portal_client(identity_server, practice_id, portal)

    def put(**settings):
        body = {"name": f"Practice {practice_id}", "settings": {"portal_url": f"{portal}/login",
                                                                 "portal_client_ids": [portal_client], **settings}}
        response = operator.call("PUT", f"/api/practices/{practice_id}", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    def patient(**overrides) -> dict:
        family = overrides.pop("family_name", None) or unique_family()
        digits = str(uuid.uuid4().int)[:7]
        row = {"mrn": f"m-{uuid.uuid4().hex[:8]}", "given_name": "Alex", "family_name": family,
               "birth_date": "1985-06-12", "sex": "male", "zip": "97201", "address": "12 Oak St",
               "email": f"{family.lower()}@example.org", "phone": f"(555) {digits[:3]}-{digits[3:]}", "pin": "4321"}
        row.update(overrides)
        response = operator.call("POST", f"/api/practices/{practice_id}/roster", json={"rows": [row]})
        assert response.status_code == 200, response.text
        row["phone_e164"] = "+1" + re.sub(r"\D", "", row["phone"])[-10:] if row.get("phone") else None
        return row

    put()
    return SimpleNamespace(id=practice_id, put=put, patient=patient, portal=portal, portal_client=portal_client)


def _portal_client(identity_server, practice_id: str, portal: str) -> str:  # noqa: F811
    sessions = identity_server.app.extensions["carekey.sessions"]
    with transaction(sessions) as session:
        client, _ = clients.create_client(session, clients.ClientSpec(
            name=f"Portal {practice_id}", redirect_uris=[f"{portal}/callback"], first_party=True,
            practice_id=practice_id, scope="openid profile launch/patient patient/*.rs"))
        return client.client_id


class PatientBrowser:
    """A patient's browser against the live servers: cookies kept, redirects followed, CSRF read."""

    def __init__(self, registration_url: str) -> None:
        self.http = requests.Session()
        self.ip = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"
        self.http.headers["X-Forwarded-For"] = self.ip
        self.base = registration_url
        self.last: requests.Response | None = None

    def url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.base}{path}"

    def get(self, path: str, **kwargs) -> requests.Response:
        self.last = self.http.get(self.url(path), timeout=15, **kwargs)
        return self.last

    def post(self, path: str | None, data: dict, **kwargs) -> requests.Response:
        """Submit a form on the current page (its CSRF token added)."""
        token = CSRF.search(self.last.text).group(1)
        target = self.url(path) if path else self.last.url
        self.last = self.http.post(target, data={"csrf_token": token, **data}, timeout=15, **kwargs)
        return self.last

    def identify(self, row: dict, **overrides) -> requests.Response:
        born = date.fromisoformat(row["birth_date"])
        data = {"given_name": row["given_name"], "family_name": row["family_name"],
                "birth_date": born.strftime("%m/%d/%Y"), "zip": row["zip"]}
        data.update(overrides)
        return self.post(None, data)


@pytest.fixture
def browser(registration_server):
    return PatientBrowser(registration_server.url)


def sign_in_at_identity(browser: PatientBrowser, response: requests.Response, username: str, password: str):
    """On identity's login page (reached through a redirect), sign in; returns the final response."""
    assert 'name="password"' in response.text, response.text[:500]
    token = CSRF.search(response.text).group(1)
    action = re.search(r'<form method="post" action="([^"]+)"', response.text).group(1).replace("&amp;", "&")
    target = requests.compat.urljoin(response.url, action)
    browser.last = browser.http.post(target, data={"csrf_token": token, "username": username, "password": password,
                                                   "action": "login"}, timeout=15)
    return browser.last
