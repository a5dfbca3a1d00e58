"""The transactional outbox: committed events reach a consumer once, rolled-back ones never,
and events written while the broker is unreachable are delivered once it returns; the relay publishes
to RabbitMQ and to the embedded broker alike, and deletes published rows past their retention on the
operator's schedule."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from services import registry
from shared.database import make_session_factory, transaction
from shared.messaging.outbox import OutboxRelay, enqueue
from shared.logging import reset_request_id, set_request_id
from shared.messaging.topology import REQUEST_ID_HEADER
from shared.settings import OutboxPurge
from shared.testing.tcp_proxy import TcpProxy
from tests.helpers import EventTap, through_proxy, unique_event_type, wait_until

SERVICE = "identity"


@pytest.fixture
def outbox():
    return registry.outbox(SERVICE)


@pytest.fixture
def sessions(suite):
    return make_session_factory(suite.engines[SERVICE])


@pytest.fixture
def tap(each_broker):
    event_type = unique_event_type()
    tap = EventTap(each_broker, event_type)
    tap.event_type = event_type
    yield tap
    tap.close()


@pytest.fixture
def relay_running(sessions, outbox, tap):
    """Starts a relay (optionally through another broker URL) in a thread; stops it afterwards.

    Like the real relay, it declares the consumer's queue (here the tap) before publishing.
    """
    started = []

    def start(amqp_url: str, **options) -> OutboxRelay:
        relay = OutboxRelay(sessions, outbox, amqp_url, idle_seconds=0.05, queues=[tap.queue], **options)
        stop = threading.Event()
        thread = threading.Thread(target=relay.run, args=(stop,), daemon=True)
        thread.start()
        started.append((stop, thread))
        return relay

    yield start
    for stop, thread in started:
        stop.set()
        thread.join(timeout=10)


def write_events(sessions, outbox, event_type: str, count: int, *, commit: bool = True) -> set[str]:
    ids = set()
    session = sessions()
    try:
        session.begin()
        for n in range(count):
            ids.add(enqueue(session, outbox, event_type, {"n": n})["id"])
        session.commit() if commit else session.rollback()
    finally:
        session.close()
    return ids


def test_committed_event_reaches_consumer_exactly_once(each_broker, sessions, outbox, tap, relay_running):
    ids = write_events(sessions, outbox, tap.event_type, 5)
    relay_running(each_broker)

    deliveries = tap.wait_for(ids)

    assert {message_id: deliveries[message_id] for message_id in ids} == {message_id: 1 for message_id in ids}
    body = tap.bodies[next(iter(ids))]
    assert body["type"] == tap.event_type and body["version"] == 1 and "occurred_at" in body
    with sessions() as session:
        rows = session.execute(select(outbox.c.id, outbox.c.published_at).where(outbox.c.id.in_(ids))).all()
    assert len(rows) == 5 and all(row.published_at is not None for row in rows)


def test_rolled_back_event_is_never_published(each_broker, sessions, outbox, tap, relay_running):
    rolled_back = write_events(sessions, outbox, tap.event_type, 3, commit=False)
    committed = write_events(sessions, outbox, tap.event_type, 1)
    relay_running(each_broker)

    deliveries = tap.wait_for(committed)

    assert set(deliveries) == committed
    assert not rolled_back & set(deliveries)
    with sessions() as session:
        assert session.execute(select(outbox.c.id).where(outbox.c.id.in_(rolled_back))).all() == []


def test_a_withheld_event_is_written_like_any_other_and_never_published(each_broker, sessions, outbox, tap,
                                                                         relay_running):
    with transaction(sessions) as session:
        withheld = enqueue(session, outbox, tap.event_type, {"n": 0}, withheld=True)["id"]
    committed = write_events(sessions, outbox, tap.event_type, 1)
    relay_running(each_broker)

    assert set(tap.wait_for(committed)) == committed
    assert withheld not in tap.deliveries
    with sessions() as session:
        row = session.execute(select(outbox.c.type, outbox.c.created_at, outbox.c.published_at, outbox.c.attempts)
                              .where(outbox.c.id == withheld)).one()
    assert (row.type, row.published_at, row.attempts) == (tap.event_type, row.created_at, 0)


def test_event_written_in_a_failed_unit_of_work_is_discarded(each_broker, sessions, outbox, tap, relay_running):
    event_id = None
    with pytest.raises(RuntimeError):
        with transaction(sessions) as session:
            event_id = enqueue(session, outbox, tap.event_type, {"n": 1})["id"]
            raise RuntimeError("the caller's work failed after writing the event")
    committed = write_events(sessions, outbox, tap.event_type, 1)
    relay_running(each_broker)

    assert set(tap.wait_for(committed)) == committed
    assert event_id not in tap.deliveries


@pytest.mark.parametrize("each_broker", ["rabbitmq"], indirect=True)  # a TCP connection to cut: RabbitMQ only
def test_events_written_while_broker_unreachable_are_delivered_once_it_returns(
        each_broker, sessions, outbox, tap, relay_running):
    target = urlsplit(each_broker)
    proxy = TcpProxy(target.hostname, target.port or 5672)
    try:
        relay_running(through_proxy(each_broker, proxy.port), max_backoff=0.5)
        before = write_events(sessions, outbox, tap.event_type, 1)
        assert set(tap.wait_for(before)) == before  # the path works through the proxy

        proxy.cut()
        during = write_events(sessions, outbox, tap.event_type, 20)
        tap.drain(1.5)
        assert not during & set(tap.deliveries), "nothing can be published while the broker is cut off"
        with sessions() as session:
            still_pending = session.execute(select(outbox.c.id).where(
                outbox.c.id.in_(during), outbox.c.published_at.is_(None))).scalars().all()
        assert set(still_pending) == during

        proxy.restore()
        deliveries = tap.wait_for(during, timeout=30)
    finally:
        proxy.close()

    assert {message_id: deliveries[message_id] for message_id in before | during} == \
        {message_id: 1 for message_id in before | during}
    with sessions() as session:
        remaining = session.execute(select(outbox.c.id).where(
            outbox.c.id.in_(during), outbox.c.published_at.is_(None))).all()
    assert remaining == []


def test_request_id_travels_with_the_event(each_broker, sessions, outbox, tap, relay_running):
    token = set_request_id("req-from-the-http-call")
    try:
        ids = write_events(sessions, outbox, tap.event_type, 1)
    finally:
        reset_request_id(token)
    relay_running(each_broker)

    tap.wait_for(ids)
    assert tap.headers[next(iter(ids))][REQUEST_ID_HEADER] == "req-from-the-http-call"


def published(sessions, outbox, ids: set[str]) -> dict[str, bool]:
    """Which of *ids* are still in the table, and whether each was published."""
    with sessions() as session:
        rows = session.execute(select(outbox.c.id, outbox.c.published_at).where(outbox.c.id.in_(ids))).all()
    return {row.id: row.published_at is not None for row in rows}


def mark_published(sessions, outbox, ids: set[str], ago: timedelta) -> None:
    with transaction(sessions) as session:
        session.execute(outbox.update().where(outbox.c.id.in_(ids))
                        .values(published_at=datetime.now(timezone.utc) - ago))


def test_published_rows_past_their_retention_are_purged_at_start_and_on_schedule(each_broker, sessions, outbox,
                                                                                 tap, relay_running):
    old, recent, later = (write_events(sessions, outbox, tap.event_type, 2) for _ in range(3))
    mark_published(sessions, outbox, old, timedelta(days=2))
    mark_published(sessions, outbox, recent, timedelta(hours=1))
    mark_published(sessions, outbox, later, timedelta(hours=1))
    pending = write_events(sessions, outbox, tap.event_type, 2)
    with transaction(sessions) as session:  # waiting for days, never published: kept until published
        session.execute(outbox.update().where(outbox.c.id.in_(pending))
                        .values(created_at=datetime.now(timezone.utc) - timedelta(days=3)))
    relay_running(each_broker, purge=OutboxPurge(retention_seconds=86400, interval_seconds=1))

    assert set(tap.wait_for(pending)) == pending
    assert wait_until(lambda: published(sessions, outbox, old | recent | later | pending)
                      == {row_id: True for row_id in recent | later | pending}), "purged at start"
    mark_published(sessions, outbox, later, timedelta(days=2))  # their day passes
    assert wait_until(lambda: set(published(sessions, outbox, later)) == set(), timeout=15), "and on schedule"
    assert set(published(sessions, outbox, recent | pending)) == recent | pending


def test_an_interval_of_zero_never_purges(each_broker, sessions, outbox, tap, relay_running):
    old = write_events(sessions, outbox, tap.event_type, 2)
    mark_published(sessions, outbox, old, timedelta(days=30))
    proof = write_events(sessions, outbox, tap.event_type, 1)
    relay_running(each_broker, purge=OutboxPurge(retention_seconds=0, interval_seconds=0))
    assert set(tap.wait_for(proof)) == proof  # the relay has been round its loop
    assert published(sessions, outbox, old) == {row_id: True for row_id in old}
