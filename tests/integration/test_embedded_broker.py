"""The embedded broker of ``make run`` (shared/messaging/embedded_transport.py) keeps RabbitMQ's promises:
a dead consumer's messages come back, a live one keeps what it holds however long it takes, an ack
removes the message for good, a requeue gives it back at once, consumers side by side never get the same
message, and a broker file written by kombu's own SQLAlchemy transport keeps its waiting messages.
Each test has a SQLite file of its own, whatever broker the rest of the run uses."""
from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from kombu import Connection, Producer, Queue

from shared.messaging.broker import connect
from shared.messaging.embedded_transport import URL_PREFIX, Transport
from tests.helpers import wait_until

ROOT = Path(__file__).resolve().parents[2]
SHORT_LEASE = 1.5  # seconds: the tests that outlive leases use short ones

# Takes one message without acknowledging it, says so, and waits to be killed.
HOLDER = """
import sys, time
from kombu import Connection, Queue
from shared.messaging.embedded_transport import Transport
connection = Connection(sys.argv[1], transport=Transport, transport_options={"lease_seconds": float(sys.argv[2])})
message = Queue("work")(connection.default_channel).get(no_ack=False)
print(message.payload["n"], flush=True)
time.sleep(600)
"""


@pytest.fixture
def broker_url(tmp_path) -> str:
    return f"sqlalchemy+sqlite:///{tmp_path / 'broker.sqlite'}"


@pytest.fixture
def connections(broker_url):
    """Connections to the test's broker file (optionally with their own lease), released at the end."""
    opened: list[Connection] = []

    def open_(lease_seconds: float | None = None) -> Connection:
        connection = connect(broker_url)
        if lease_seconds is not None:
            connection.transport_options["lease_seconds"] = lease_seconds
        opened.append(connection)
        return connection

    yield open_
    for connection in opened:
        connection.release()


def work(connection: Connection):
    queue = Queue("work")(connection.default_channel)
    queue.declare()
    return queue


def publish(connection: Connection, *numbers: int) -> None:
    work(connection)
    producer = Producer(connection.default_channel)
    for n in numbers:
        producer.publish({"n": n}, routing_key="work", serializer="json")


def rows(broker_url: str) -> list[tuple]:
    with sqlite3.connect(broker_url.split(":///", 1)[1]) as db:
        return db.execute("SELECT id, visible FROM kombu_message ORDER BY id").fetchall()


def test_an_acknowledged_message_is_gone_and_a_requeued_one_comes_back_first(broker_url, connections):
    connection = connections()
    publish(connection, 1, 2, 3)
    queue = work(connection)
    first = queue.get(no_ack=False)
    first.ack()
    second = queue.get(no_ack=False)
    second.requeue()
    again = queue.get(no_ack=False)
    assert (first.payload, second.payload, again.payload) == ({"n": 1}, {"n": 2}, {"n": 2})
    again.ack()
    assert queue.get(no_ack=True).payload == {"n": 3}, "taken without an ack: removed at once"
    assert queue.get(no_ack=False) is None
    assert rows(broker_url) == [], "nothing is kept once acknowledged"


def test_a_killed_consumers_message_comes_back_once_its_lease_runs_out(broker_url, connections):
    publish(connections(), 7)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, URL_PREFIX + broker_url.split(":///", 1)[1],
                               str(SHORT_LEASE)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "7", "the other process holds the message"
        queue = work(connections())
        assert queue.get(no_ack=False) is None, "held by a live consumer: not delivered to another"
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
    finally:
        holder.kill()
        holder.stdout.close()
    message = wait_until(lambda: queue.get(no_ack=False), timeout=10 * SHORT_LEASE)
    assert message is not None and message.payload == {"n": 7}
    message.ack()
    time.sleep(2 * SHORT_LEASE)
    assert queue.get(no_ack=False) is None and rows(broker_url) == [], "delivered again once, then gone"


def test_a_live_consumer_keeps_its_message_however_long_it_takes(broker_url, connections):
    publish(connections(), 1)
    slow = work(connections(lease_seconds=SHORT_LEASE)).get(no_ack=False)
    other = work(connections(lease_seconds=SHORT_LEASE))
    deadline = time.monotonic() + 4 * SHORT_LEASE  # the lease is renewed several times meanwhile
    taken_meanwhile = []
    while time.monotonic() < deadline:
        taken_meanwhile.append(other.get(no_ack=False))
        time.sleep(SHORT_LEASE / 4)
    slow.ack()
    time.sleep(2 * SHORT_LEASE)
    assert set(taken_meanwhile) == {None} and other.get(no_ack=False) is None
    assert slow.payload == {"n": 1} and rows(broker_url) == []


def test_closing_a_channel_gives_back_what_it_held(connections):
    publish(connections(), 1, 2)
    closing = connections()
    held = [work(closing).get(no_ack=False) for _ in range(2)]
    assert [m.payload["n"] for m in held] == [1, 2]
    closing.release()
    queue = work(connections())
    assert [queue.get(no_ack=True).payload["n"] for _ in range(2)] == [1, 2], "back at once, in order"


def test_consumers_side_by_side_never_get_the_same_message(broker_url, connections):
    publish(connections(), *range(200))
    received: list[int] = []
    lock = threading.Lock()

    def consume(connection: Connection) -> None:
        queue = work(connection)
        while (message := queue.get(no_ack=False)) is not None:
            with lock:
                received.append(message.payload["n"])
            message.ack()

    threads = [threading.Thread(target=consume, args=(connections(),)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(received) == list(range(200))
    assert rows(broker_url) == []


def test_a_broker_file_of_kombus_own_transport_keeps_its_waiting_messages(broker_url, connections):
    with Connection(broker_url) as old:  # kombu's SQLAlchemy transport, as make run used before
        assert old.transport_cls == "sqlalchemy"
        publish(old, 1, 2, 3)
        delivered = work(old).get(no_ack=False)
        delivered.ack()  # kombu's transport keeps the row, hidden
    assert len(rows(broker_url)) == 3

    queue = work(connections())
    taken = [queue.get(no_ack=False) for _ in range(3)]
    assert [m.payload["n"] for m in taken if m] == [2, 3], "the waiting ones, not the one already handled"
    for message in taken[:2]:
        message.ack()
    assert rows(broker_url) == []


def test_the_transport_is_the_one_connect_picks_for_the_embedded_url(broker_url):
    with connect(broker_url) as connection:
        assert connection.transport_cls is Transport
        assert connection.clone().transport_cls is Transport, "the consumer's reconnections keep it"
