"""The notifications worker: consumes delivery requests until SIGTERM, finishing the one in hand."""
from __future__ import annotations

import signal

from services.notifications.handlers import RequestHandler
from services.notifications.queues import REQUESTS
from shared.database import make_engine, make_session_factory
from shared.messaging.broker import connect
from shared.messaging.consumer import QueueConsumer
from shared.messaging.topology import WorkQueue
from shared.settings import ServiceSettings


def build_consumer(settings: ServiceSettings, *, queue: WorkQueue = REQUESTS,
                   prefetch_count: int = 10) -> QueueConsumer:
    sessions = make_session_factory(make_engine(settings.database_url))
    return QueueConsumer(connect(settings.common.amqp_url), queue, RequestHandler(sessions),
                         prefetch_count=prefetch_count)


def run(settings: ServiceSettings) -> None:
    consumer = build_consumer(settings)

    def stop(_signum, _frame):
        consumer.should_stop = True  # the consume loop ends after the current message

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    consumer.run()
