"""An event written to a producer's outbox reaches the notifications worker, which delivers each
request once even when the broker delivers it again."""
from __future__ import annotations

import json
import threading
import uuid

from kombu import Producer
from sqlalchemy import func, select

from services import registry
from services.notifications.db.models import LocalOutboxMessage, Notification
from services.notifications.worker import build_consumer
from shared.database import make_session_factory, transaction
from shared.messaging.broker import connect
from shared.messaging.notifications import request_notification
from shared.messaging.outbox import OutboxRelay
from shared.messaging.topology import DEFAULT_EXCHANGE, WorkQueue
from tests.helpers import wait_until


def sent_count(suite, notification_id: str) -> int:
    with suite.engines["notifications"].connect() as conn:
        return conn.execute(select(func.count()).select_from(LocalOutboxMessage.__table__)
                            .where(LocalOutboxMessage.notification_id == notification_id)).scalar_one()


def status(suite, notification_id: str) -> str | None:
    with suite.engines["notifications"].connect() as conn:
        return conn.execute(select(Notification.status).where(Notification.id == notification_id)).scalar()


def test_outbox_event_reaches_worker_and_is_sent_once_despite_redelivery(suite):
    routing_key = f"notification.t{uuid.uuid4().hex[:10]}"
    queue = WorkQueue(f"test.notifications.{uuid.uuid4().hex[:10]}", routing_keys=(routing_key,), backoff=(0.2,))
    registration = make_session_factory(suite.engines["registration"])
    with transaction(registration) as session:
        envelope = request_notification(session, registry.outbox("registration"), channel="email",
                                        recipient={"email": f"linked-{uuid.uuid4().hex[:8]}@example.org"},
                                        template="practice_linked",
                                        variables={"practice_name": "Riverside Family Practice"})
        # route this test's event to this test's queue only
        session.execute(registry.outbox("registration").update()
                        .where(registry.outbox("registration").c.id == envelope["id"]).values(type=routing_key))
    stop = threading.Event()
    relay = OutboxRelay(registration, registry.outbox("registration"), suite.backends.amqp_url,
                        queues=queue.all_queues(), idle_seconds=0.05)
    relay_thread = threading.Thread(target=relay.run, args=(stop,), daemon=True)
    relay_thread.start()
    consumer = build_consumer(suite.settings["notifications"], queue=queue)
    worker_thread = threading.Thread(target=consumer.run, daemon=True)
    worker_thread.start()
    try:
        assert wait_until(lambda: status(suite, envelope["id"]) == "sent", timeout=15)
        with connect(suite.backends.amqp_url) as conn:  # the broker delivers the same message again
            Producer(conn.default_channel).publish(json.dumps(envelope), exchange=DEFAULT_EXCHANGE,
                                                   routing_key=queue.name, content_type="application/json")
        wait_until(lambda: False, timeout=1.0)
    finally:
        stop.set()
        consumer.should_stop = True
        relay_thread.join(10)
        worker_thread.join(10)
        with connect(suite.backends.amqp_url) as conn:
            for declared in queue.all_queues():
                declared(conn.default_channel).delete()
    assert sent_count(suite, envelope["id"]) == 1
