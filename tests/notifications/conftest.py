"""Notifications fixtures: a real SMTP server, a fake Twilio, a worker on a private queue."""
from __future__ import annotations

import dataclasses
import json
import threading
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from kombu import Producer

from services.notifications.db.models import Notification
from services.notifications.worker import build_consumer
from shared.database import make_session_factory
from shared.messaging.broker import connect
from shared.messaging.envelope import make_envelope
from shared.messaging.notifications import EVENT_TYPE
from shared.messaging.topology import DEFAULT_EXCHANGE, WorkQueue, declare
from tests.fakes import twilio as fake_twilio_module
from tests.fakes.smtp import FakeSmtp
from tests.fakes.twilio import FakeTwilio
from tests.helpers import wait_until


@pytest.fixture
def smtp():
    server = FakeSmtp().start()
    yield server
    server.stop()


@pytest.fixture
def twilio():
    server = FakeTwilio()
    yield server
    server.close()


@pytest.fixture
def amqp_url(suite) -> str:
    """The broker the notifications tests use: the suite's (RabbitMQ in CI). A module may override it."""
    return suite.backends.amqp_url


@pytest.fixture
def settings(suite, amqp_url, smtp, twilio):
    base = suite.settings["notifications"]
    common = dataclasses.replace(base.base.common, amqp_url=amqp_url)
    return dataclasses.replace(
        base, base=dataclasses.replace(base.base, common=common), email_backend="smtp", smtp_port=smtp.port,
        sms_backend="twilio", twilio_account_sid=fake_twilio_module.ACCOUNT_SID,
        twilio_auth_token=fake_twilio_module.AUTH_TOKEN, twilio_from=fake_twilio_module.FROM_NUMBER,
        twilio_api_url=twilio.url, retry_backoff=(0.2, 0.4, 0.8),
        per_recipient_hour=10, per_recipient_day=30, smtp_timeout=5.0)


@pytest.fixture
def queue():
    name = f"test.notify.{uuid.uuid4().hex[:10]}"
    return WorkQueue(name, routing_keys=(name,), backoff=(0.2, 0.4, 0.8))


@pytest.fixture
def sessions(suite):
    return make_session_factory(suite.engines["notifications"])


class Worker:
    def __init__(self, settings, queue) -> None:
        self.settings, self.queue = settings, queue
        self.consumer = build_consumer(settings, queue=queue)
        self.thread = threading.Thread(target=self.consumer.run, daemon=True)

    def start(self) -> "Worker":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.consumer.should_stop = True
        self.thread.join(timeout=15)
        self.consumer.handler.close()
        self.consumer.connection.release()


@pytest.fixture
def worker(settings, queue, amqp_url):
    started = []

    def start(custom_settings=None) -> Worker:
        w = Worker(custom_settings or settings, queue).start()
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()
    with connect(amqp_url) as conn:
        for declared in queue.all_queues():
            declared(conn.default_channel).delete()


def notification(channel="email", template="verification_code", recipient=None, variables=None,
                 expires_in: timedelta | None = timedelta(minutes=10), **payload_overrides) -> dict:
    recipient = recipient or ({"email": f"pat-{uuid.uuid4().hex[:6]}@example.org"} if channel == "email"
                              else {"phone": "+1555" + str(uuid.uuid4().int)[:7]})
    payload = {"channel": channel, "recipient": recipient, "template": template,
               "variables": variables if variables is not None else {"code": "482913", "minutes": 10},
               "locale": "en",
               "expires_at": (datetime.now(timezone.utc) + expires_in).isoformat() if expires_in else None}
    payload.update(payload_overrides)
    return make_envelope(EVENT_TYPE, payload)


@pytest.fixture
def publish(amqp_url, queue):
    """Publishes envelopes (or raw bodies) straight to the test's queue, over one connection."""
    def send(*envelopes_or_bodies, content_type="application/json") -> None:
        with connect(amqp_url) as conn:
            declare(conn, queue.all_queues())
            producer = Producer(conn.default_channel)
            for item in envelopes_or_bodies:
                body = item if isinstance(item, str) else json.dumps(item)
                producer.publish(body, exchange=DEFAULT_EXCHANGE, routing_key=queue.name,
                                 content_type=content_type, delivery_mode=2)
    return send


@pytest.fixture
def state(sessions):
    def read(notification_id: str) -> Notification | None:
        with sessions() as session:
            return session.get(Notification, notification_id)
    return read


def wait_for_status(state, notification_id: str, *statuses: str, timeout: float = 15.0):
    return wait_until(lambda: (row := state(notification_id)) is not None and row.status in statuses, timeout)


def dead_letters(amqp_url: str, queue, timeout: float = 5.0) -> list:
    found = []
    with connect(amqp_url) as conn:
        bound = queue.dead_letter_queue()(conn.default_channel)

        def collect():
            while (message := bound.get(no_ack=True)) is not None:
                found.append(message)
            return bool(found)
        wait_until(collect, timeout)
    return found
