"""An event written to a producer's outbox reaches the notifications worker, which handles each
message id once even when the broker delivers it again."""
from __future__ import annotations

import json
import threading
import uuid

from kombu import Producer
from sqlalchemy import func, select

from services.notifications.db.models import inbox
from services.notifications.handlers import RequestHandler
from services.notifications.worker import build_consumer
from services import registry
from shared.database import make_session_factory, transaction
from shared.messaging.broker import connect
from shared.messaging.envelope import make_envelope
from shared.messaging.inbox import first_delivery
from shared.messaging.outbox import OutboxRelay, enqueue
from shared.messaging.topology import DEFAULT_EXCHANGE, WorkQueue
from tests.helpers import wait_until


def handled(suite, message_id: str) -> int:
    with suite.engines["notifications"].connect() as conn:
        return conn.execute(select(func.count()).select_from(inbox)
                            .where(inbox.c.message_id == message_id)).scalar_one()


def test_handler_is_idempotent_on_message_id(suite):
    handler = RequestHandler(make_session_factory(suite.engines["notifications"]))
    envelope = make_envelope("notification.requested", {"template": "verification_code"})
    handler(envelope)
    handler(envelope)
    assert handled(suite, envelope["id"]) == 1


def test_inbox_records_a_message_id_once_per_transaction(rollback_session):
    session = rollback_session("notifications")
    assert first_delivery(session, inbox, "2f1c8a52-9d7e-4c55-a3a4-0f3f1c2b7d10", "notification.requested")
    assert not first_delivery(session, inbox, "2f1c8a52-9d7e-4c55-a3a4-0f3f1c2b7d10", "notification.requested")
    assert first_delivery(session, inbox, "7e0b1a9c-5a3f-4d0e-8f4c-9b2e6d1a3c55", "notification.requested")


def test_outbox_event_reaches_worker_once_despite_redelivery(suite, caplog):
    caplog.set_level("INFO")
    event_type = f"notification.t{uuid.uuid4().hex[:10]}.requested"
    queue = WorkQueue(f"test.notifications.{uuid.uuid4().hex[:10]}", routing_keys=(event_type,), backoff=(0.2,))
    registration = make_session_factory(suite.engines["registration"])
    with transaction(registration) as session:
        envelope = enqueue(session, registry.outbox("registration"), event_type, {"template": "invitation"})

    stop = threading.Event()
    relay = OutboxRelay(registration, registry.outbox("registration"), suite.backends.amqp_url,
                        queues=queue.all_queues(), idle_seconds=0.05)
    relay_thread = threading.Thread(target=relay.run, args=(stop,), daemon=True)
    relay_thread.start()
    consumer = build_consumer(suite.settings["notifications"], queue=queue)
    worker_thread = threading.Thread(target=consumer.run, daemon=True)
    worker_thread.start()
    try:
        assert wait_until(lambda: handled(suite, envelope["id"]) == 1, timeout=15)
        with connect(suite.backends.amqp_url) as conn:  # the broker delivers the same message again
            Producer(conn.default_channel).publish(json.dumps(envelope), exchange=DEFAULT_EXCHANGE,
                                                   routing_key=queue.name, content_type="application/json")
            assert wait_until(lambda: any(r.getMessage() == "duplicate notification request ignored"
                                          for r in caplog.records), timeout=10)
    finally:
        stop.set()
        consumer.should_stop = True
        relay_thread.join(10)
        worker_thread.join(10)
        with connect(suite.backends.amqp_url) as conn:
            for declared in queue.all_queues():
                declared(conn.default_channel).delete()
    assert handled(suite, envelope["id"]) == 1
    accepted = [r for r in caplog.records if r.getMessage() == "notification request accepted"]
    assert [r.message_id for r in accepted] == [envelope["id"]], "handled once, not twice"
