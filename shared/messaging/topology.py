"""Exchanges and queue naming, declared in one place.

Every event is published to the topic exchange ``carekey.events`` with its type as routing key.
A consumer's work queue ``Q`` has retry queues ``Q.retry.N`` (messages wait there for the N-th
backoff, then dead-letter back to ``Q``) and a dead-letter queue ``Q.dead`` for messages that
are malformed or out of retries.
"""
from __future__ import annotations

from dataclasses import dataclass

from kombu import Exchange, Queue

EVENTS_EXCHANGE_NAME = "carekey.events"
EVENTS_EXCHANGE = Exchange(EVENTS_EXCHANGE_NAME, type="topic", durable=True)
DEFAULT_EXCHANGE = Exchange("", type="direct", durable=True)
RETRY_HEADER = "x-carekey-attempt"
NOT_BEFORE_HEADER = "x-carekey-not-before"
REQUEST_ID_HEADER = "x-request-id"


@dataclass(frozen=True)
class WorkQueue:
    """A consumer's queue, its bindings, its backoff schedule (seconds) and its dead letters."""

    name: str
    routing_keys: tuple[str, ...]
    backoff: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0, 600.0)

    @property
    def max_attempts(self) -> int:
        return len(self.backoff) + 1

    @property
    def dead_letter_name(self) -> str:
        return f"{self.name}.dead"

    def retry_name(self, level: int) -> str:
        return f"{self.name}.retry.{level}"

    def work_queue(self) -> Queue:
        from kombu import binding
        return Queue(self.name, exchange=EVENTS_EXCHANGE, durable=True,
                     bindings=[binding(EVENTS_EXCHANGE, routing_key=key) for key in self.routing_keys])

    def retry_queues(self) -> list[Queue]:
        return [
            Queue(self.retry_name(level), exchange=DEFAULT_EXCHANGE, routing_key=self.retry_name(level),
                  durable=True, queue_arguments={
                      "x-message-ttl": int(delay * 1000),
                      "x-dead-letter-exchange": "",
                      "x-dead-letter-routing-key": self.name,
                  })
            for level, delay in enumerate(self.backoff, start=1)
        ]

    def dead_letter_queue(self) -> Queue:
        return Queue(self.dead_letter_name, exchange=DEFAULT_EXCHANGE, routing_key=self.dead_letter_name,
                     durable=True)

    def all_queues(self) -> list[Queue]:
        return [self.work_queue(), *self.retry_queues(), self.dead_letter_queue()]


def declare(connection, queues: list[Queue]) -> None:
    """Declare the events exchange and *queues* with their bindings.

    Publishers declare every consumer queue before their first event, so nothing is published to
    a queue that does not exist yet; kombu's virtual transports (the embedded default) keep
    bindings per connection, so there this is also what routes the publisher's events.
    """
    declare_on(connection.default_channel, queues)


def declare_on(channel, queues: list[Queue]) -> None:
    EVENTS_EXCHANGE(channel).declare()
    for queue in queues:
        queue(channel).declare()  # a bound copy: the shared Queue object stays unbound


def rabbitmq_definitions(queues: list[Queue], vhost: str = "/") -> dict:
    """The topology as RabbitMQ definitions, so a broker can be provisioned before any service runs.

    Queue arguments must equal what the code declares, or RabbitMQ refuses the redeclaration.
    """
    return {
        "exchanges": [{"name": EVENTS_EXCHANGE_NAME, "vhost": vhost, "type": "topic", "durable": True,
                       "auto_delete": False, "internal": False, "arguments": {}}],
        "queues": [{"name": queue.name, "vhost": vhost, "durable": True, "auto_delete": False,
                    "arguments": dict(queue.queue_arguments or {})} for queue in queues],
        "bindings": [{"source": EVENTS_EXCHANGE_NAME, "vhost": vhost, "destination": queue.name,
                      "destination_type": "queue", "routing_key": binding.routing_key, "arguments": {}}
                     for queue in queues for binding in queue.bindings],
    }
