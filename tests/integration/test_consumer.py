"""The consumer base: ack after success, bounded retries with backoff, dead letters, never lost; on
RabbitMQ and on the embedded broker (whose retry queues the consumer moves itself)."""
from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
from kombu import Producer

from shared.messaging.broker import connect
from shared.messaging.consumer import PermanentError, QueueConsumer
from shared.messaging.envelope import make_envelope
from shared.messaging.topology import DEFAULT_EXCHANGE, RETRY_HEADER, WorkQueue, declare
from shared.logging import get_request_id
from shared.messaging.topology import REQUEST_ID_HEADER
from tests.helpers import wait_until


class RecordingHandler:
    def __init__(self, failures: int = 0, error: type[Exception] = RuntimeError) -> None:
        self.failures, self.error = failures, error
        self.calls: list[dict] = []
        self.handled: list[str] = []
        self.request_ids: list[str | None] = []

    def __call__(self, envelope: dict) -> None:
        self.calls.append(envelope)
        self.request_ids.append(get_request_id())
        if len(self.calls) <= self.failures:
            raise self.error("provider timed out")
        self.handled.append(str(envelope["id"]))


@pytest.fixture
def work_queue():
    name = f"test.q{uuid.uuid4().hex[:10]}"
    return WorkQueue(name, routing_keys=(f"{name}.#",), backoff=(0.2, 0.4))


@pytest.fixture
def broker(each_broker, work_queue):
    connection = connect(each_broker)
    declare(connection, work_queue.all_queues())
    yield connection
    channel = connection.default_channel
    for queue in work_queue.all_queues():
        queue(channel).delete()
    connection.release()


@pytest.fixture
def consuming(each_broker, work_queue, broker):
    running = []

    def start(handler) -> QueueConsumer:
        consumer = QueueConsumer(connect(each_broker), work_queue, handler, prefetch_count=5)
        thread = threading.Thread(target=consumer.run, daemon=True)
        thread.start()
        running.append((consumer, thread))
        return consumer

    yield start
    for consumer, thread in running:
        consumer.should_stop = True
        thread.join(timeout=10)
        consumer.connection.release()


def publish(broker, queue_name: str, body, content_type: str = "application/json", headers=None) -> None:
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    Producer(broker.default_channel).publish(raw, exchange=DEFAULT_EXCHANGE, routing_key=queue_name,
                                             content_type=content_type, content_encoding="utf-8",
                                             delivery_mode=2, headers=headers or {})


def dead_letters(broker, work_queue: WorkQueue, expect: int, timeout: float = 10.0) -> list:
    queue = work_queue.dead_letter_queue()(broker.default_channel)
    found = []

    def collect():
        while (message := queue.get(no_ack=True)) is not None:
            found.append(message)
        return len(found) >= expect

    wait_until(collect, timeout)
    return found


def text(raw) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def envelope(n: int = 1) -> dict:
    return make_envelope("test.thing.happened", {"n": n})


def test_valid_message_is_handled_once_and_acked(broker, work_queue, consuming):
    handler = RecordingHandler()
    consuming(handler)
    sent = [envelope(n) for n in range(3)]
    for body in sent:
        publish(broker, work_queue.name, body)

    assert wait_until(lambda: len(handler.handled) == 3)
    time.sleep(0.3)
    assert sorted(handler.handled) == sorted(body["id"] for body in sent)
    assert work_queue.work_queue()(broker.default_channel).get(no_ack=True) is None
    assert dead_letters(broker, work_queue, expect=0, timeout=0.2) == []


@pytest.mark.parametrize("body, content_type", [
    ("{not json", "application/json"),
    ("just text", "text/plain"),
    (json.dumps({"type": "test.thing", "payload": {}}), "application/json"),
    (json.dumps(["a", "list"]), "application/json"),
], ids=["broken-json", "not-json-content-type", "missing-envelope-fields", "not-an-object"])
def test_malformed_message_goes_to_dead_letter_queue_not_lost(broker, work_queue, consuming, body, content_type):
    handler = RecordingHandler()
    consuming(handler)
    publish(broker, work_queue.name, body, content_type)

    [dead] = dead_letters(broker, work_queue, expect=1)
    assert text(dead.body) == body
    assert dead.headers["x-carekey-dead-reason"]
    assert handler.calls == []


def test_transient_failure_is_retried_with_backoff_then_handled(broker, work_queue, consuming):
    handler = RecordingHandler(failures=2)
    consuming(handler)
    body = envelope()
    started = time.monotonic()
    publish(broker, work_queue.name, body, headers={REQUEST_ID_HEADER: "req-behind-the-message"})

    assert wait_until(lambda: handler.handled == [body["id"]], timeout=15)
    assert time.monotonic() - started >= 0.2 + 0.4  # both backoffs were waited
    assert len(handler.calls) == 3
    assert handler.request_ids == ["req-behind-the-message"] * 3, "every attempt logs under the same request id"
    assert dead_letters(broker, work_queue, expect=0, timeout=0.3) == []


def test_retries_are_bounded_then_dead_lettered(broker, work_queue, consuming):
    handler = RecordingHandler(failures=99)
    consuming(handler)
    body = envelope()
    publish(broker, work_queue.name, body)

    [dead] = dead_letters(broker, work_queue, expect=1, timeout=15)
    assert json.loads(dead.body)["id"] == body["id"]
    assert dead.headers["x-carekey-dead-reason"].startswith("retries exhausted")
    assert dead.headers[RETRY_HEADER] == work_queue.max_attempts
    assert len(handler.calls) == work_queue.max_attempts


def test_permanent_failure_is_dead_lettered_without_retry(broker, work_queue, consuming):
    handler = RecordingHandler(failures=1, error=PermanentError)
    consuming(handler)
    publish(broker, work_queue.name, envelope())

    [dead] = dead_letters(broker, work_queue, expect=1)
    assert dead.headers["x-carekey-dead-reason"].startswith("permanent")
    time.sleep(0.8)
    assert len(handler.calls) == 1
