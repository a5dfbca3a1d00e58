"""The notifications worker as a real process (``carekey notifications worker``): killed mid-delivery,
killed again and again while requests flow, stopped with SIGTERM, cut off from its broker, and run
three at a time; every request is delivered exactly once (or, for a kill after the SMTP server accepted
it and before ``sent`` was recorded, once more with the same Message-ID), as the real SMTP server sees
it, and its notification is recorded ``sent``.

Every test runs on RabbitMQ and on the embedded broker of ``make run`` (``each_broker``)."""
from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from amqp.exceptions import NotFound
from kombu import Queue
from sqlalchemy import func, select

from services.notifications.db.models import Notification
from shared.messaging.broker import connect, is_amqp
from shared.messaging.topology import declare
from shared.testing.tcp_proxy import TcpProxy
from tests.helpers import through_proxy, wait_until
from tests.notifications.conftest import notification, wait_for_status

ROOT = Path(__file__).resolve().parents[2]
WORKER_COMMAND = [sys.executable, "-m", "services.cli", "notifications", "worker"]


@pytest.fixture
def amqp_url(each_broker) -> str:
    return each_broker


class WorkerProcess:
    """One ``carekey notifications worker`` process, in its own process group, output to a file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen(WORKER_COMMAND, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                        stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.process.pid

    def signal_group(self, signum: int) -> None:
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass

    def wait(self, timeout: float) -> int | None:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """SIGKILL the whole group and reap the process (bounded)."""
        self.signal_group(signal.SIGKILL)
        self.wait(10)
        self._log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def worker_env(suite, amqp_url, smtp, queue) -> dict[str, str]:
    return {**os.environ, **suite.environ("notifications"), "AMQP_URL": amqp_url,
            "NOTIFICATIONS_EMAIL_BACKEND": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp.port),
            "NOTIFICATIONS_QUEUE": queue.name, "NOTIFICATIONS_ROUTING_KEY": queue.name,
            "NOTIFICATIONS_RETRY_BACKOFF": ",".join(str(delay) for delay in queue.backoff),
            "LOG_JSON": "false", "LOG_LEVEL": "INFO"}


@pytest.fixture
def start_worker(worker_env, amqp_url, queue, tmp_path):
    """Start worker processes; every one is SIGKILLed at the end, then the test's queues are deleted."""
    assert worker_env["NOTIFICATIONS_RETRY_BACKOFF"] == "0.2,0.4,0.8", "must match the queue fixture's"
    started: list[WorkerProcess] = []

    def start(**overrides: str) -> WorkerProcess:
        worker = WorkerProcess({**worker_env, **overrides}, tmp_path / f"worker-{len(started) + 1}.log")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.kill()
    with connect(amqp_url) as conn:
        for declared in queue.all_queues():
            try:
                declared(conn.default_channel).delete()
            except Exception:  # cleanup only: never hide the test's own outcome
                pass


def email_request() -> tuple[dict, str]:
    to = f"pat-{uuid.uuid4().hex}@example.org"
    return notification("email", recipient={"email": to}), to


def logs(workers: list[WorkerProcess]) -> str:
    return "\n".join(f"--- worker {w.pid} (exit {w.process.poll()}) ---\n{w.output()[-3000:]}" for w in workers)


def queued_count(amqp_url, queue) -> int:
    """Messages ready in the work queue (a passive declare: it never creates the queue)."""
    with connect(amqp_url) as conn:
        return queue.work_queue()(conn.default_channel).queue_declare(passive=True).message_count


def consumer_count(amqp_url, queue) -> int:
    """Consumers on the work queue (RabbitMQ only: virtual transports report 0)."""
    try:
        with connect(amqp_url) as conn:
            return queue.work_queue()(conn.default_channel).queue_declare(passive=True).consumer_count
    except NotFound:  # not declared yet
        return 0


def provision(amqp_url, queue) -> None:
    with connect(amqp_url) as conn:
        declare(conn, queue.all_queues())


@contextlib.contextmanager
def broker_write_lock(url: str):
    """Embedded only: hold the write lock of the broker's SQLite file (readers go on, writers wait)."""
    if is_amqp(url):
        yield
        return
    with connect(url) as conn:  # make sure the broker's tables exist, so that starting up only reads
        warm = Queue(f"warmup.{uuid.uuid4().hex[:10]}")(conn.default_channel)
        warm.declare()
        warm.delete()
    db = sqlite3.connect(url[len("sqlalchemy+sqlite:///"):], timeout=10, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            db.execute("ROLLBACK")
    finally:
        db.close()


def assert_sent_exactly_once(smtp, state, requests: list[tuple[dict, str]], *, timeout: float, quiet: float = 1.5):
    """Every request reaches the SMTP server once and is recorded sent; no late copy follows."""
    deadline = time.monotonic() + timeout
    for request, _ in requests:
        assert wait_for_status(state, request["id"], "sent", timeout=max(0.1, deadline - time.monotonic())), \
            (request["id"], state(request["id"]) and state(request["id"]).status)
    time.sleep(quiet)  # a duplicate would arrive now, from a redelivery or another worker
    counts = {to: len(smtp.to(to)) for _, to in requests}
    assert all(count == 1 for count in counts.values()), {to: n for to, n in counts.items() if n != 1}
    for request, to in requests:
        row = state(request["id"])
        assert row.status == "sent" and row.sent_at is not None
        [message] = smtp.to(to)
        assert message["Message-ID"] == f"<{request['id']}@carekey>"


def test_worker_killed_mid_delivery_is_restarted_and_the_message_goes_out_once(smtp, start_worker, publish,
                                                                               state):
    """RabbitMQ gives the dead worker's message back when its connection drops; the embedded broker when
    the dead worker's lease on it runs out. Killed during the SMTP transaction, before the server's 250:
    the one copy is the next worker's."""
    smtp.stall_seconds = 5
    first = start_worker()
    item = email_request()
    publish(item[0])
    assert smtp.data_started.wait(30), logs([first])
    assert smtp.to(item[1]) == []
    first.signal_group(signal.SIGKILL)
    assert first.wait(10) == -signal.SIGKILL
    row = state(item[0]["id"])
    assert row.status == "sending" and row.attempts == 1, "killed after the attempt was recorded"

    second = start_worker()
    assert_sent_exactly_once(smtp, state, [item], timeout=20)
    assert state(item[0]["id"]).attempts >= 2, logs([first, second])
    assert second.process.poll() is None, logs([second])


DRILL_REQUESTS = 300
DRILL_KILLS = 5


def statuses(sessions, ids: list[str]) -> Counter:
    with sessions() as session:
        return Counter(dict(session.execute(select(Notification.status, func.count())
                                            .where(Notification.id.in_(ids)).group_by(Notification.status)).all()))


def test_worker_killed_again_and_again_while_requests_flow_loses_nothing(smtp, start_worker, publish, sessions):
    """The drill of the issue: requests waiting, a worker SIGKILLed five times while it delivers them, a
    new one started each time (before the kill, so its start-up overlaps the old one's work). Every
    request ends ``sent`` and reaches its address; none is left ``sending``. The one window admitted is
    a kill after the server accepted a message and before ``sent`` was recorded: that message goes out
    once more, with the same Message-ID, so at most one address per kill has two copies."""
    requests = [email_request() for _ in range(DRILL_REQUESTS)]
    ids = [request["id"] for request, _ in requests]
    publish(*(request for request, _ in requests))
    current = start_worker()
    workers = [current]
    for kill in range(1, DRILL_KILLS + 1):
        successor = start_worker()  # starting up (and soon working) beside the one to be killed
        workers.append(successor)
        mid_flow = kill * DRILL_REQUESTS // (DRILL_KILLS + 2)
        assert wait_until(lambda: len(smtp.messages) >= mid_flow, 60), logs(workers)
        current.signal_group(signal.SIGKILL)
        assert current.wait(10) == -signal.SIGKILL
        current = successor
    assert wait_until(lambda: statuses(sessions, ids)["sent"] == len(ids), 90), \
        (statuses(sessions, ids), logs(workers))
    time.sleep(1.5)  # a late copy would arrive now, from a redelivery
    assert statuses(sessions, ids) == Counter(sent=len(ids)), "nothing left sending, queued or failed"
    copies = {request["id"]: smtp.to(to) for request, to in requests}
    assert all(copies.values()), "every address received its message"
    assert all(message["Message-ID"] == f"<{notification_id}@carekey>"
               for notification_id, messages in copies.items() for message in messages)
    doubled = [notification_id for notification_id, messages in copies.items() if len(messages) > 1]
    assert all(len(copies[notification_id]) == 2 for notification_id in doubled), "at most one extra copy"
    assert len(doubled) <= DRILL_KILLS, doubled
    print(f"{DRILL_REQUESTS} requests, {DRILL_KILLS} kills: {len(doubled)} sent twice (killed in the window)")
    assert workers[-1].process.poll() is None, logs(workers[-1:])


def test_sigterm_finishes_the_delivery_in_hand_and_leaves_the_rest_queued(amqp_url, queue, smtp, start_worker,
                                                                          publish, state):
    smtp.stall_seconds = 2
    first = start_worker()
    item = email_request()
    publish(item[0])
    assert smtp.data_started.wait(30), logs([first])
    assert smtp.to(item[1]) == [], "still in hand: the server answers 250 only after its 2 s stall"
    signalled = time.monotonic()
    first.signal_group(signal.SIGTERM)
    code = first.wait(10)
    stopped_after = time.monotonic() - signalled
    assert code == 0, (code, logs([first]))
    assert stopped_after < 10
    # the delivery in hand was finished (the 250 came after SIGTERM) and recorded before the exit
    assert len(smtp.to(item[1])) == 1
    assert state(item[0]["id"]).status == "sent" and state(item[0]["id"]).attempts == 1
    assert smtp.quits == 1, "its SMTP session ended with QUIT"

    later = email_request()
    publish(later[0])
    time.sleep(1.0)
    assert state(later[0]["id"]) is None and smtp.to(later[1]) == []
    assert queued_count(amqp_url, queue) == 1, "the request published after the stop waits in the queue"

    second = start_worker()
    assert_sent_exactly_once(smtp, state, [item, later], timeout=30)
    assert state(later[0]["id"]).attempts == 1, logs([second])


@pytest.mark.parametrize("each_broker", ["rabbitmq"], indirect=True)  # a TCP connection to cut: RabbitMQ only
def test_broker_connection_cut_and_restored_delivers_each_request_once(amqp_url, smtp, start_worker,
                                                                      publish, state):
    broker = urlsplit(amqp_url)
    proxy = TcpProxy(broker.hostname, broker.port or 5672)
    try:
        worker = start_worker(AMQP_URL=through_proxy(amqp_url, proxy.port))
        proof = email_request()
        publish(proof[0])
        assert_sent_exactly_once(smtp, state, [proof], timeout=30, quiet=0.5)

        proxy.cut()
        during = [email_request() for _ in range(10)]
        for request, _ in during:
            publish(request)  # straight to RabbitMQ: the broker keeps them while the worker is cut off
        time.sleep(2.0)
        assert [state(request["id"]) for request, _ in during] == [None] * 10
        assert all(smtp.to(to) == [] for _, to in during)

        proxy.restore()
        restored = time.monotonic()
        assert_sent_exactly_once(smtp, state, during, timeout=30)
        print(f"10 requests delivered {time.monotonic() - restored:.1f}s after the restore (incl. quiet period)")
        assert worker.process.poll() is None, logs([worker])
        assert all(state(request["id"]).attempts == 1 for request, _ in during)
    finally:
        proxy.close()


def test_three_workers_side_by_side_deliver_each_request_once(amqp_url, queue, smtp, start_worker, publish,
                                                             state):
    provision(amqp_url, queue)  # as deploy/rabbitmq/definitions.json does before any worker runs
    workers = [start_worker() for _ in range(3)]
    if is_amqp(amqp_url):
        assert wait_until(lambda: consumer_count(amqp_url, queue) == 3, 30), logs(workers)
    requests = [email_request() for _ in range(30)]
    for request, _ in requests:
        publish(request)
    started = time.monotonic()
    assert_sent_exactly_once(smtp, state, requests, timeout=60)
    print(f"30 requests delivered by 3 workers in {time.monotonic() - started:.1f}s (incl. quiet period)")
    assert all(state(request["id"]).attempts == 1 for request, _ in requests)
    assert all(worker.process.poll() is None for worker in workers), logs(workers)
    handled = [worker.output().count("notification handled") for worker in workers]
    print(f"handled per worker: {handled}")
    assert sum(handled) == 30, handled
    if is_amqp(amqp_url):
        assert all(handled), f"RabbitMQ shares the queue between its three consumers: {handled}"


def test_workers_started_together_on_a_new_queue_all_keep_running(amqp_url, queue, smtp, start_worker, publish,
                                                                  state):
    """Three workers started at once on a queue nobody declared yet (a first deployment, or
    ``--scale 3``) must all come up. Embedded, the three declarations meet in the broker's SQLite
    file; holding its write lock while they start makes them meet every time instead of most times."""
    with broker_write_lock(amqp_url):
        workers = [start_worker() for _ in range(3)]
        if not is_amqp(amqp_url):
            assert all(wait_until(lambda w=w: "worker consuming" in w.output(), 30) for w in workers)
            time.sleep(2.0)  # each is now at its first queue declaration, waiting for the lock
    if is_amqp(amqp_url):
        assert wait_until(lambda: consumer_count(amqp_url, queue) == 3, 30), logs(workers)
    else:
        wait_until(lambda: any(w.process.poll() is not None for w in workers), 5)
    assert all(worker.process.poll() is None for worker in workers), logs(workers)
    requests = [email_request() for _ in range(3)]
    for item, _ in requests:
        publish(item)
    assert_sent_exactly_once(smtp, state, requests, timeout=30)
