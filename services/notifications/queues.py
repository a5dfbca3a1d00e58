"""The queues notifications consumes, declared once (a test checks deploy/ against these names)."""
from __future__ import annotations

from shared.messaging.topology import WorkQueue

# Every event whose type starts with "notification." asks for a message to be delivered.
REQUESTS = WorkQueue("notifications.requests", routing_keys=("notification.#",))

WORK_QUEUES = (REQUESTS,)


def requests_queue(settings) -> WorkQueue:
    """The work queue as configured (tests and parallel deployments use their own names)."""
    return WorkQueue(settings.queue, routing_keys=(settings.routing_key,), backoff=settings.retry_backoff)
