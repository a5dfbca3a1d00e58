"""The notifications worker: consumes delivery requests in batches (what its prefetch window holds, up
to NOTIFICATIONS_BATCH_SIZE) until SIGTERM; it finishes the provider call in hand, puts back the
requests not yet started and closes its provider connections."""
from __future__ import annotations

import signal

from services.notifications.handlers import RequestHandler
from services.notifications.queues import requests_queue
from services.notifications.wiring import build_deliverer
from shared.database import make_engine, make_session_factory
from shared.messaging.broker import connect
from shared.messaging.consumer import QueueConsumer
from shared.messaging.topology import WorkQueue


def build_consumer(settings, *, queue: WorkQueue | None = None) -> QueueConsumer:
    sessions = make_session_factory(make_engine(settings.database_url))
    handler = RequestHandler(build_deliverer(settings, sessions))
    return QueueConsumer(connect(settings.common.amqp_url), queue or requests_queue(settings), handler,
                         prefetch_count=settings.prefetch, on_dead_letter=handler.give_up,
                         batch_handler=handler.handle_batch, batch_size=settings.batch_size)


def run(settings) -> None:
    consumer = build_consumer(settings)

    def stop(_signum, _frame):
        consumer.should_stop = True  # the loop ends after the provider call in hand

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        consumer.run()
    finally:
        consumer.handler.close()  # e.g. QUIT on the SMTP connection
