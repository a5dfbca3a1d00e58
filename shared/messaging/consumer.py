"""The consumer base: JSON only, ack after success, bounded retries with backoff, dead letters.

A handler receives a validated envelope. It returns normally on success (the message is acked),
raises :class:`PermanentError` for a message that can never succeed (dead-lettered at once), or
raises anything else for a transient failure: the message waits in ``Q.retry.N`` for the N-th
backoff and comes back, until the attempts run out and it is dead-lettered. Malformed messages
(not JSON, not an envelope) are dead-lettered, never acked and lost: the copy to ``Q.dead`` is
confirmed before the original is acked.

RabbitMQ moves expired retry messages back by itself (per-queue TTL and dead-lettering). kombu's
virtual transports, used by the embedded default, ignore those queue arguments, so on them the
consumer moves due retry messages back itself between polls.

Batches: a consumer with ``batch_size`` > 1 collects the deliveries already in its prefetch window
(up to ``batch_size``, waiting at most ``batch_wait`` seconds for more) and hands them to its
``batch_handler`` at once; the handler answers one outcome per message, settled exactly as a single
handler's would be (``None`` acks, :class:`PermanentError` dead-letters, :class:`Deferred` puts the
message back untouched, anything else retries). A message is settled only after the handler
returned, so after its effects were committed. Without a batch handler every message is handled
alone, as a batch of one.
"""
from __future__ import annotations


import logging
import socket
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from kombu import Connection, Consumer, Message, Producer, Queue
from kombu.mixins import ConsumerMixin

from shared.logging import get_request_id, new_request_id, reset_request_id, set_request_id
from shared.messaging.broker import is_amqp
from shared.messaging.envelope import CONTENT_TYPE, MalformedMessage, parse_envelope
from shared.messaging.topology import (DEFAULT_EXCHANGE, NOT_BEFORE_HEADER, REQUEST_ID_HEADER, RETRY_HEADER,
                                       WorkQueue, declare_on)

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], None]


class PermanentError(Exception):
    """The message can never be handled; retrying would not help."""


class Deferred(Exception):
    """The message was not handled (the consumer is stopping): it goes back to the queue as it came."""


@dataclass(frozen=True)
class Delivery:
    """A valid message waiting in a batch: its envelope and the request id its logs carry."""
    envelope: dict[str, Any]
    request_id: str
    message: Message


# One outcome per delivery, in order: None (handled), or the exception that decides its fate.
BatchHandler = Callable[[Sequence[Delivery], Callable[[], bool]], list[BaseException | None]]


class QueueConsumer(ConsumerMixin):
    def __init__(self, connection: Connection, work_queue: WorkQueue, handler: Handler, *,
                 prefetch_count: int = 10, on_dead_letter: Callable[[dict[str, Any], str], None] | None = None,
                 batch_handler: BatchHandler | None = None, batch_size: int = 1, batch_wait: float = 0.005) -> None:
        if batch_size > prefetch_count:
            raise ValueError("batch_size cannot exceed prefetch_count: a batch is drawn from the prefetch window")
        self.connection = connection
        self.on_dead_letter = on_dead_letter  # told when a valid message is given up on
        self.work_queue = work_queue
        self.handler = handler
        self.prefetch_count = prefetch_count
        self.batch_handler = batch_handler or self._one_by_one
        self.batch_size, self.batch_wait = batch_size, batch_wait
        self._pending: list[Delivery] = []
        self._native_ttl = is_amqp(connection.as_uri())
        self._producer: Producer | None = None

    # -- wiring -----------------------------------------------------------------------------
    def get_consumers(self, consumer_cls, channel) -> list[Consumer]:
        # `channel` belongs to the connection kombu (re)established; self.connection may be stale
        declare_on(channel, self.work_queue.all_queues())
        self._producer = Producer(channel)
        return [consumer_cls(queues=[self.work_queue.work_queue()], callbacks=[self.on_message],
                             accept=["json"], prefetch_count=self.prefetch_count,
                             on_decode_error=self.on_decode_error)]

    def on_connection_revived(self) -> None:
        self._producer = None
        self._pending = []  # deliveries of the lost channel: the broker delivers them again

    def consume(self, limit=None, timeout=None, safety_interval=1, **kwargs):
        """kombu's consume loop, collecting deliveries into batches: after each delivery the rest of
        the prefetch window is drained (waiting at most ``batch_wait``), then the batch is handled.
        When the loop stops, deliveries not yet handled are put back (none is left unsettled)."""
        with self.consumer_context(**kwargs) as (conn, _channel, _consumers):
            try:
                while not self.should_stop:
                    self.on_iteration()
                    try:
                        conn.drain_events(timeout=self.batch_wait if self._pending else safety_interval)
                    except socket.timeout:
                        if self._pending:
                            self.flush()
                        else:
                            conn.heartbeat_check()
                        continue
                    except OSError:
                        if not self.should_stop:
                            raise
                        break
                    if len(self._pending) >= self.batch_size:
                        self.flush()
                    yield
                self.flush()  # stopping: the handler defers what it has not started
            except BaseException:
                self._pending = []  # the channel is gone or going: the broker redelivers them
                raise

    def on_iteration(self) -> None:
        if not self._native_ttl:
            self.move_due_retries()

    # -- handling ---------------------------------------------------------------------------
    def on_message(self, body: Any, message: Message) -> None:
        headers = message.headers or {}
        token = set_request_id(headers.get(REQUEST_ID_HEADER) or new_request_id())
        try:
            try:
                envelope = parse_envelope(body)
            except MalformedMessage as exc:
                self.dead_letter(message, str(exc))
                return
            self._pending.append(Delivery(envelope, get_request_id(), message))
        finally:
            reset_request_id(token)

    def flush(self) -> None:
        """Handle the collected deliveries, then settle each by its outcome."""
        batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            outcomes = self.batch_handler(batch, lambda: not self.should_stop)
            if len(outcomes) != len(batch):
                raise RuntimeError(f"{len(outcomes)} outcomes for {len(batch)} messages")
        except Exception as exc:  # nothing is known to be handled: every message is retried
            log.exception("batch handling failed", extra={"queue": self.work_queue.name, "size": len(batch)})
            outcomes = [exc] * len(batch)
        for delivery, outcome in zip(batch, outcomes):
            token = set_request_id(delivery.request_id)
            try:
                self.settle(delivery, outcome)
            finally:
                reset_request_id(token)

    def settle(self, delivery: Delivery, outcome: BaseException | None) -> None:
        message, envelope = delivery.message, delivery.envelope
        if outcome is None:
            message.ack()
        elif isinstance(outcome, Deferred):
            message.requeue()
        elif isinstance(outcome, PermanentError):
            self.dead_letter(message, f"permanent: {outcome}", envelope)
        else:  # transient: retry with backoff
            log.warning("message handling failed", extra={"type": envelope["type"],
                                                          "error": type(outcome).__name__})
            self.retry_or_dead_letter(message, type(outcome).__name__, envelope)

    def _one_by_one(self, batch: Sequence[Delivery], keep_going: Callable[[], bool]) -> list[BaseException | None]:
        """The single handler's batch: each message alone, under its own request id."""
        outcomes: list[BaseException | None] = []
        for delivery in batch:
            if not keep_going():
                outcomes.append(Deferred())
                continue
            token = set_request_id(delivery.request_id)
            try:
                self.handler(delivery.envelope)
                outcomes.append(None)
            except Exception as exc:
                outcomes.append(exc)
            finally:
                reset_request_id(token)
        return outcomes

    def on_decode_error(self, message: Message, exc: Exception) -> None:
        self.dead_letter(message, f"undecodable: {type(exc).__name__}")

    def retry_or_dead_letter(self, message: Message, reason: str, envelope: dict | None = None) -> None:
        attempt = int((message.headers or {}).get(RETRY_HEADER, 1))
        if attempt >= self.work_queue.max_attempts:
            self.dead_letter(message, f"retries exhausted: {reason}", envelope)
            return
        delay = self.work_queue.backoff[attempt - 1]
        headers = {**(message.headers or {}), RETRY_HEADER: attempt + 1,
                   NOT_BEFORE_HEADER: time.time() + delay}
        self._copy(message, self.work_queue.retry_name(attempt), headers)
        message.ack()

    def dead_letter(self, message: Message, reason: str, envelope: dict | None = None) -> None:
        log.error("message dead-lettered", extra={"queue": self.work_queue.name, "reason": reason[:200]})
        headers = {**(message.headers or {}), "x-carekey-dead-reason": reason[:500]}
        self._copy(message, self.work_queue.dead_letter_name, headers)
        if envelope is not None and self.on_dead_letter is not None:
            self.on_dead_letter(envelope, reason)  # before the ack: if it fails, the message comes back
        message.ack()

    def _copy(self, message: Message, queue_name: str, headers: dict) -> None:
        """Publish the raw body to *queue_name* (confirmed on RabbitMQ) before the original is acked."""
        if self._producer is None:
            self._producer = Producer(self.connection.default_channel)
        self._producer.publish(message.body, exchange=DEFAULT_EXCHANGE, routing_key=queue_name,
                               content_type=message.content_type or CONTENT_TYPE,
                               content_encoding=message.content_encoding or "utf-8",
                               headers=headers, delivery_mode=2, retry=False,
                               message_id=message.properties.get("message_id"))

    # -- virtual transports only --------------------------------------------------------------
    def move_due_retries(self) -> int:
        """Move retry messages whose backoff has passed back to the work queue."""
        moved = 0
        channel = self.connection.default_channel
        for level in range(1, len(self.work_queue.backoff) + 1):
            queue = Queue(self.work_queue.retry_name(level), channel=channel)
            while True:
                message = queue.get(no_ack=False)
                if message is None:
                    break
                not_before = float((message.headers or {}).get(NOT_BEFORE_HEADER, 0))
                if not_before > time.time():
                    message.requeue()
                    break
                self._copy(message, self.work_queue.name, message.headers or {})
                message.ack()
                moved += 1
        return moved



