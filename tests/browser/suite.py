"""The whole CareKey suite as real processes, for the browser tests.

Every service on its own fresh databases (PostgreSQL when ``DATABASE_URL`` is set, else SQLite
files), on free ports: identity, registration, notifications and records (``carekey serve``), the
outbox relay, the notifications worker (SMTP to the aiosmtpd fake, texts and calls to the Twilio
fake), and the two demo practice portals under gunicorn with two workers each (so a back-channel
logout reaching one worker ends the session the browser holds on the other). With RabbitMQ the
suite gets a private virtual host (``rabbitmqctl``), so other test runs on the same broker neither
take its messages nor send it theirs.

Start-up order, as ``make run``: migrate, declare the queues, ``carekey demo seed`` (which
registers the portals' clients for these ports and writes their secrets), start the services and
wait for ``/readyz``, then the portals. Logs of every process are kept under the artefacts folder.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from services import SERVICES, registry
from services.demo import portals as demo_portals
from services.demo.portal_clients import PORTALS
from shared.database import normalise_url
from shared.migrations import upgrade
from shared.testing.backends import Backends
from tests.browser.messages import Mailbox, body_of, code_in, link_in  # noqa: F401 (helpers for journeys)
from tests.fakes import twilio as twilio_fake
from tests.fakes.smtp import FakeSmtp
from tests.fakes.twilio import FakeTwilio
from tests.helpers import free_ports, http_status

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 90.0
TESTS_CLIENT_SCOPE = "identity:accounts"






@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log_path: Path
    ready_url: str | None = None

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


class PrivateVhost:
    """A RabbitMQ virtual host of its own (created with rabbitmqctl on this machine's broker)."""

    def __init__(self, amqp_url: str) -> None:
        self.name = f"carekey-browser-{uuid.uuid4().hex[:10]}"
        self.base_url = amqp_url
        user = urlsplit(amqp_url).username or "guest"
        self._ctl("add_vhost", self.name)
        self._ctl("set_permissions", "-p", self.name, user, ".*", ".*", ".*")

    @staticmethod
    def available(amqp_url: str) -> bool:
        host = urlsplit(amqp_url).hostname
        return shutil.which("rabbitmqctl") is not None and host in ("127.0.0.1", "localhost", "::1")

    def _ctl(self, *args: str) -> None:
        subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)

    @property
    def url(self) -> str:
        parts = urlsplit(self.base_url)
        return urlunsplit((parts.scheme, parts.netloc, "/" + self.name, parts.query, parts.fragment))

    def delete(self) -> None:
        with contextlib.suppress(Exception):
            self._ctl("delete_vhost", self.name)


@dataclass
class RunningSuite:
    urls: dict[str, str]                       # identity, registration, notifications, records, and each portal
    portal_urls: dict[str, str]                # practice id -> portal base URL
    mailbox: Mailbox
    env: dict[str, str]                        # the environment every process shares
    service_env: dict[str, dict[str, str]]     # per service: env that `carekey` commands for it need
    artifacts: Path
    workdir: Path
    processes: dict[str, Process] = field(default_factory=dict)
    tests_client: tuple[str, str] | None = None   # (client_id, secret) with identity:accounts

    # -- commands --------------------------------------------------------------------------------
    def cli(self, service: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run ``carekey <args>`` with *service*'s environment (its database), e.g.
        ``suite.cli("records", "records", "teen-consent", "riverside", "rv-1003")``."""
        result = subprocess.run([sys.executable, "-m", "services.cli", *args], cwd=self.workdir,
                                env=self.service_env[service], capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"carekey {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
        return result

    def cli_json(self, service: str, *args: str):
        return json.loads(self.cli(service, *args).stdout)

    # -- identity's internal API, as registration calls it ------------------------------------------
    def _accounts_token(self) -> str:
        client_id, secret = self.tests_client
        response = requests.post(f"{self.urls['identity']}/token", auth=(client_id, secret), timeout=10,
                                 data={"grant_type": "client_credentials", "scope": TESTS_CLIENT_SCOPE})
        response.raise_for_status()
        return response.json()["access_token"]

    def create_account(self, *, username: str, password: str, email: str | None = None,
                       given_name: str | None = None, family_name: str | None = None,
                       phone: str | None = None) -> dict:
        """``POST /internal/accounts`` with a client-credentials token (``identity:accounts``)."""
        body = {"username": username, "password": password, "email": email, "given_name": given_name,
                "family_name": family_name, "phone": phone}
        response = requests.post(f"{self.urls['identity']}/internal/accounts", json=body, timeout=30,
                                 headers={"Authorization": f"Bearer {self._accounts_token()}"})
        assert response.status_code == 201, response.text
        return response.json()

    def link(self, account_id: str, *, practice: str, patient: str, display_name: str,
             relationship: str = "self") -> dict:
        """``POST /internal/accounts/<id>/links``: the account may act for that practice's patient."""
        response = requests.post(f"{self.urls['identity']}/internal/accounts/{account_id}/links", timeout=30,
                                 json={"practice_id": practice, "patient_id": patient, "relationship": relationship,
                                       "display_name": display_name},
                                 headers={"Authorization": f"Bearer {self._accounts_token()}"})
        assert response.status_code == 201, response.text
        return response.json()

    # -- life cycle -------------------------------------------------------------------------------
    def start(self, name: str, command: list[str], env: dict[str, str], ready_url: str | None = None) -> Process:
        log_path = self.artifacts / "suite-logs" / f"{name.replace(' ', '-')}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(log_path, "wb")
        popen = subprocess.Popen(command, cwd=self.workdir, env=env, stdin=subprocess.DEVNULL, stdout=handle,
                                 stderr=subprocess.STDOUT, start_new_session=True)
        handle.close()
        process = Process(name, popen, log_path, ready_url)
        self.processes[name] = process
        return process

    def wait_ready(self, names: list[str], timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        waiting = list(names)
        while waiting:
            for name in list(waiting):
                process = self.processes[name]
                if not process.alive():
                    raise RuntimeError(f"{name} exited ({process.popen.returncode}):\n{process.tail()}")
                if process.ready_url is None or http_status(process.ready_url) == 200:
                    waiting.remove(name)
            if waiting and time.monotonic() > deadline:
                raise RuntimeError(f"not ready after {timeout:.0f}s: {', '.join(waiting)}\n" +
                                   "\n".join(self.processes[n].tail(1500) for n in waiting))
            time.sleep(0.2)

    def check_alive(self) -> None:
        dead = [p for p in self.processes.values() if not p.alive()]
        if dead:
            raise AssertionError("\n".join(f"{p.name} exited ({p.popen.returncode}):\n{p.tail()}" for p in dead))

    def stop(self) -> None:
        for process in self.processes.values():
            if process.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in self.processes.values():
            try:
                process.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.popen.pid, signal.SIGKILL)
                process.popen.wait(timeout=10)


@dataclass
class Databases:
    """One fresh database per service (and per portal) for this suite; dropped at the end."""

    backends: Backends
    worker: str
    tmp: Path
    created: list[str] = field(default_factory=list)

    def url(self, name: str) -> str:
        url = self.backends.service_database(name, self.worker, self.tmp)
        if self.backends.database_url is not None:
            self.created.append(make_url(url).database)
        return url

    def drop_all(self) -> None:
        if self.backends.database_url is None or not self.created:
            return
        engine = create_engine(make_url(normalise_url(self.backends.database_url)), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                for name in self.created:
                    with contextlib.suppress(Exception):
                        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            engine.dispose()


def _python(*args: str) -> list[str]:
    return [sys.executable, "-m", *args]


def launch(backends: Backends, worker: str, tmp: Path, artifacts: Path, stack: contextlib.ExitStack) -> RunningSuite:
    """Start the whole suite; everything started is stopped and removed by *stack*."""
    smtp = FakeSmtp().start()
    stack.callback(smtp.stop)
    twilio = FakeTwilio()
    stack.callback(twilio.close)

    amqp_url = backends.amqp_url
    if backends.kind == "embedded":
        amqp_url = f"sqlalchemy+sqlite:///{tmp / 'broker.sqlite'}"
    elif backends.kind == "urls" and PrivateVhost.available(amqp_url):  # a container's broker is private already
        vhost = PrivateVhost(amqp_url)
        stack.callback(vhost.delete)
        amqp_url = vhost.url

    databases = Databases(backends, f"{worker}_browser", tmp)
    stack.callback(databases.drop_all)
    ports = dict(zip([*SERVICES, *(p.practice_id for p in PORTALS)], free_ports(len(SERVICES) + len(PORTALS))))
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    env = {key: value for key, value in os.environ.items()
           if not key.endswith("_DATABASE_URL") and key not in ("DATABASE_URL", "AMQP_URL")}
    env.update({
        "CAREKEY_ENV": "test", "AMQP_URL": amqp_url, "LOG_JSON": "false", "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT),
        # only the ports below say where each service is: every issuer, audience, callback and link one
        # service derives from another's follows them (as with `IDENTITY_PORT=9001 make run`)
        # notifications: real SMTP to the fake, texts and calls to the fake Twilio
        "NOTIFICATIONS_EMAIL_BACKEND": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp.port),
        "NOTIFICATIONS_SMS_BACKEND": "twilio", "TWILIO_ACCOUNT_SID": twilio_fake.ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": twilio_fake.AUTH_TOKEN, "TWILIO_FROM_NUMBER": twilio_fake.FROM_NUMBER,
        "TWILIO_API_URL": twilio.url,
    })
    for service in SERVICES:
        env[f"{service.upper()}_PORT"] = str(ports[service])
    for portal in PORTALS:
        env[f"PORTAL_{portal.practice_id.upper()}_PORT"] = str(ports[portal.practice_id])
    service_env: dict[str, dict[str, str]] = {}
    settings = {}
    for service in SERVICES:
        service_env[service] = {**env, f"{service.upper()}_DATABASE_URL": databases.url(service)}
        settings[service] = registry.settings(service, service_env[service])
        upgrade(registry.migrations(service, settings[service]))
    everything = {**env, **{f"{s.upper()}_DATABASE_URL": service_env[s][f"{s.upper()}_DATABASE_URL"]
                            for s in SERVICES}}
    suite = RunningSuite(urls=urls, portal_urls={p.practice_id: urls[p.practice_id] for p in PORTALS},
                         mailbox=Mailbox(smtp, twilio), env=everything, service_env=service_env,
                         artifacts=artifacts, workdir=tmp)
    stack.callback(suite.stop)
    service_env["all"] = everything
    for service in SERVICES:  # every command sees every database and the clients made below
        service_env[service] = everything
    suite.cli("all", "broker", "setup")
    suite.cli("all", "demo", "seed")   # the records' demo charts, the portals' clients (for these ports)
    made = suite.cli_json("identity", "identity", "clients", "create", "--name", "Browser tests",
                          "--scope", TESTS_CLIENT_SCOPE, "--grant-type", "client_credentials")
    suite.tests_client = (made["client_id"], made["client_secret"])

    for service in SERVICES:
        suite.start(service, _python("services.cli", "serve", service), everything,
                    f"{urls[service]}/readyz")
    suite.start("outbox relay", _python("services.cli", "relay"), everything)
    suite.start("notifications worker", _python("services.cli", "notifications", "worker"), everything)
    suite.wait_ready([*SERVICES, "outbox relay", "notifications worker"])
    _wait_for_log(suite.processes["notifications worker"], "consuming")

    for process in demo_portals.processes(everything, settings, var_dir=tmp / "var"):
        practice = process.portal.practice_id
        portal_env = {**process.env, "PORTAL_DATABASE_URL": databases.url(f"portal_{practice}"),
                      "WEB_CONCURRENCY": "2", "GUNICORN_THREADS": "4"}
        suite.start(f"{practice} portal", _python("gunicorn", "-c", str(ROOT / "deploy/gunicorn.conf.py"),
                                                  "examples.portal.wsgi:app"), portal_env,
                    f"{urls[practice]}/readyz")
    suite.wait_ready([f"{p.practice_id} portal" for p in PORTALS])
    return suite


def _wait_for_log(process: Process, marker: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while marker not in process.tail(20000):
        if not process.alive():
            raise RuntimeError(f"{process.name} exited:\n{process.tail()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{process.name} did not say {marker!r}:\n{process.tail()}")
        time.sleep(0.2)

