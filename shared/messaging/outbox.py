"""The transactional outbox: events are rows written in the caller's transaction, and a relay
publishes them to the broker after commit, with publisher confirms, then marks them sent. The relay
also deletes the rows published longer ago than the retention, on the operator's schedule
(``OUTBOX_RETENTION_SECONDS``, ``OUTBOX_PURGE_INTERVAL_SECONDS``), so the table stays bounded.

A row is published at least once (a crash between the broker's confirm and the row update
publishes it again); consumers are idempotent on the envelope id (notifications: its state row per
notification id).
"""
from __future__ import annotations

import json
import logging
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from kombu import Producer
from sqlalchemy import Column, DateTime, Index, Integer, MetaData, String, Table, Text, select, update
from sqlalchemy.orm import Session, sessionmaker

from shared.database import is_postgres
from shared.logging import get_request_id
from shared.messaging.broker import connect
from shared.messaging.envelope import CONTENT_TYPE, make_envelope
from shared.messaging.topology import EVENTS_EXCHANGE, REQUEST_ID_HEADER, declare
from shared.settings import OutboxPurge

log = logging.getLogger(__name__)

OUTBOX_TABLE = "outbox"
PURGE_BATCH = 5000  # rows deleted per transaction: a long backlog never holds one long lock


def define_outbox(metadata: MetaData) -> Table:
    """Add the outbox table to a service's metadata (each service keeps its own)."""
    return Table(
        OUTBOX_TABLE, metadata,
        Column("id", String(36), primary_key=True),
        Column("type", String(120), nullable=False),
        Column("body", Text, nullable=False),
        Column("request_id", String(64), nullable=True),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("published_at", DateTime(timezone=True), nullable=True),
        Column("attempts", Integer, nullable=False, default=0),
        Index("ix_outbox_pending", "published_at", "created_at"),
    )


def enqueue(session: Session, table: Table, type_: str, payload: dict[str, Any], *, version: int = 1,
            withheld: bool = False) -> dict:
    """Write an event in the caller's transaction; it is published only if that transaction commits.

    A *withheld* event is written the same way but recorded as already published, so the relay never
    sends it: the same work for a branch that must not be told apart, by its timing, from one that
    publishes (purged with the published rows)."""
    envelope = make_envelope(type_, payload, version=version)
    moment = datetime.now(timezone.utc)
    session.execute(table.insert().values(
        id=envelope["id"], type=type_, body=json.dumps(envelope), request_id=get_request_id(),
        created_at=moment, published_at=moment if withheld else None, attempts=0,
    ))
    return envelope


class OutboxRelay:
    """Publishes pending outbox rows in order, and purges published ones on schedule (at start, then
    every interval); safe to run several side by side on PostgreSQL."""

    def __init__(self, session_factory: sessionmaker[Session], table: Table, amqp_url: str, *,
                 queues: list | None = None, batch_size: int = 200, idle_seconds: float = 0.2,
                 max_backoff: float = 10.0, purge: OutboxPurge | None = None) -> None:
        self.session_factory = session_factory
        self.table = table
        self.amqp_url = amqp_url
        self.queues = queues or []
        self.batch_size = batch_size
        self.idle_seconds = idle_seconds
        self.max_backoff = max_backoff
        self.purge = purge
        self._next_purge = time.monotonic()
        self._connection = None
        self._producer: Producer | None = None

    def _ensure_producer(self) -> Producer:
        if self._producer is None:
            connection = connect(self.amqp_url)
            connection.ensure_connection(max_retries=1, timeout=5)
            declare(connection, self.queues)
            self._connection = connection
            self._producer = Producer(connection.default_channel, exchange=EVENTS_EXCHANGE)
        return self._producer

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.release()
            except Exception:  # the connection may already be dead
                pass
        self._connection = None
        self._producer = None

    def publish_pending(self) -> int:
        """Publish one batch; returns how many rows were published."""
        with self.session_factory() as session, session.begin():
            query = (select(self.table.c.id, self.table.c.type, self.table.c.body, self.table.c.request_id)
                     .where(self.table.c.published_at.is_(None))
                     .order_by(self.table.c.created_at, self.table.c.id)
                     .limit(self.batch_size))
            if is_postgres(session.get_bind()):
                query = query.with_for_update(skip_locked=True)
            rows = session.execute(query).all()
            if not rows:
                return 0
            published, failure = self._publish_rows(rows)
            if published:
                session.execute(update(self.table).where(self.table.c.id.in_(published))
                                .values(published_at=datetime.now(timezone.utc),
                                        attempts=self.table.c.attempts + 1))
        if failure is not None:  # raised after the commit that records what did go out
            raise failure
        return len(published)

    def _publish_rows(self, rows) -> tuple[list[str], Exception | None]:
        published: list[str] = []
        try:
            producer = self._ensure_producer()
            for row in rows:
                headers = {REQUEST_ID_HEADER: row.request_id} if row.request_id else {}
                producer.publish(row.body, routing_key=row.type, content_type=CONTENT_TYPE,
                                 content_encoding="utf-8", message_id=row.id, headers=headers,
                                 delivery_mode=2, retry=False)
                published.append(row.id)
        except Exception as exc:  # broker unreachable or a publish not confirmed
            return published, exc
        return published, None

    def _keep_alive(self) -> None:
        """Answer broker heartbeats while idle, so an idle relay's connection is not dropped."""
        if self._connection is not None:
            self._connection.heartbeat_check()

    def purge_if_due(self) -> None:
        """Deletes the rows published before the retention, when the schedule says so."""
        if self.purge is None or not self.purge.enabled or time.monotonic() < self._next_purge:
            return
        self._next_purge = time.monotonic() + self.purge.interval_seconds
        older_than = datetime.now(timezone.utc) - timedelta(seconds=self.purge.retention_seconds)
        try:
            purged = 0
            while True:
                with self.session_factory() as session, session.begin():
                    deleted = purge_published(session, self.table, older_than)
                purged += deleted
                if deleted < PURGE_BATCH:
                    break
        except Exception as exc:  # the database is down: publishing backs off, the purge waits its turn
            log.warning("outbox purge failed", extra={"error": type(exc).__name__})
            return
        if purged:
            log.info("outbox purged", extra={"rows": purged, "published_before": older_than.isoformat()})

    def run(self, stop: threading.Event) -> None:
        """Relay until *stop* is set, backing off while the broker or database is unreachable."""
        backoff = 0.5
        while not stop.is_set():
            self.purge_if_due()
            try:
                count = self.publish_pending()
                backoff = 0.5
                if count < self.batch_size:
                    self._keep_alive()
                    stop.wait(self.idle_seconds)
            except Exception as exc:  # broker or database down: keep the rows, retry later
                log.warning("outbox relay paused", extra={"error": type(exc).__name__, "retry_in": backoff})
                self.close()
                stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
        self.close()


def purge_published(session: Session, table: Table, older_than: datetime, limit: int = PURGE_BATCH) -> int:
    """Deletes up to *limit* rows published before *older_than* (pending rows are never touched)."""
    doomed = select(table.c.id).where(table.c.published_at < older_than).limit(limit)
    return session.execute(table.delete().where(table.c.id.in_(doomed.scalar_subquery()))).rowcount or 0


