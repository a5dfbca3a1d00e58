"""Delivering one notification request: idempotent on its id, rate-limited per recipient, never a
code past its expiry, and every state change recorded (queued → sending → sent → delivered, or
failed).

A request is handled at least once by the broker; the state row makes it effective once: a request
whose notification is already sent, delivered or failed is acknowledged without sending. The one
window left is a worker dying after the provider accepted a message and before `sent` was
recorded; the message then goes out again on redelivery (SMTP carries a stable Message-ID).

Requests come in batches (what the worker's prefetch window holds). They are delivered in chunks, one
per channel call: a channel across the network takes one message per call, so for it a chunk is one
request, handled exactly as alone; the local outbox takes a whole batch. A chunk is claimed in one
transaction, sent with one provider call (outside any transaction) and recorded in one transaction,
so the window above is still one provider call. A claim that fails claims nothing and a provider
call that raises delivered nothing: the chunk is then handled again one request at a time, so one
bad request only fails itself.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Sequence

from sqlalchemy import DateTime, String, bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from services.notifications.channels.base import (Channel, Outgoing, PermanentDeliveryError,
                                                  TransientDeliveryError)
from services.notifications.db.models import Notification
from services.notifications.domain.clock import aware, now
from services.notifications.domain.rendering import RenderError, render
from shared.database import single_statements

FINAL = ("sent", "delivered", "failed")

# the hot path's statements, built once with bound parameters, so SQLAlchemy compiles each once
_TABLE = Notification.__table__
_RECENT = (select(func.count().filter(_TABLE.c.created_at >= bindparam("hour_ago")), func.count())
           .where(_TABLE.c.recipient_digest == bindparam("digest"), _TABLE.c.id != bindparam("notification_id"),
                  _TABLE.c.status.in_(("sending", "sent", "delivered")), _TABLE.c.created_at >= bindparam("day_ago")))
# text, for PostgreSQL and SQLite alike: a dialect's insert().on_conflict_do_nothing() is not cacheable
# and would be compiled again for every message
_INSERT_NEW = text(f"""
    INSERT INTO {_TABLE.name} (id, channel, template, recipient_digest, recipient_hint, status, attempts,
                               last_error, created_at, updated_at)
    VALUES (:id, :channel, :template, :recipient_digest, :recipient_hint, :status, :attempts, :last_error,
            :created_at, :updated_at)
    ON CONFLICT (id) DO NOTHING
    RETURNING id""").bindparams(bindparam("created_at", type_=DateTime(timezone=True)),
                                bindparam("updated_at", type_=DateTime(timezone=True))).columns(id=String())
_MARK = update(_TABLE).where(_TABLE.c.id == bindparam("notification_id"))
_INSERT_MANY = {name: insert(_TABLE).on_conflict_do_nothing().returning(_TABLE.c.id)
                for name, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))}
_EXISTING = select(_TABLE.c.id).where(_TABLE.c.id.in_(bindparam("ids", expanding=True)))
_RECENT_BY_RECIPIENT = (
    select(_TABLE.c.recipient_digest, func.count().filter(_TABLE.c.created_at >= bindparam("hour_ago")), func.count())
    .where(_TABLE.c.recipient_digest.in_(bindparam("digests", expanding=True)),
           _TABLE.c.status.in_(("sending", "sent", "delivered")), _TABLE.c.created_at >= bindparam("day_ago"))
    .group_by(_TABLE.c.recipient_digest))


@dataclass(frozen=True)
class Limits:
    per_hour: int
    per_day: int


class NotStarted(Exception):
    """Outcome of a request left untouched because the worker is stopping: it can be handled later."""


class NotDelivered(Exception):
    """Raised after recording a failure; ``permanent`` decides retry or dead letter."""

    def __init__(self, reason: str, permanent: bool) -> None:
        super().__init__(reason)
        self.permanent = permanent


def address(request: dict[str, Any]) -> str:
    return request["recipient"]["email"] if request["channel"] == "email" else request["recipient"]["phone"]


def recipient_digest(channel: str, to: str) -> str:
    return hashlib.sha256(f"{channel}:{to.strip().lower()}".encode()).hexdigest()


@dataclass
class _Item:
    """One request of a batch on its way: claimed, rendered, sent, recorded."""
    index: int
    notification_id: str
    request: dict[str, Any]
    channel: str
    to: str
    digest: str
    status: str | None = None  # after the claim: "sending", or the final status that answers it
    message: Outgoing | None = None
    outcome: Any = field(default=None)  # a status, or the exception that decides retry or dead letter


Outcome = str | Exception  # a request's final status, or NotDelivered / NotStarted / an unexpected error


def hint(channel: str, to: str) -> str:
    if channel == "email" and "@" in to:
        local, domain = to.split("@", 1)
        return f"{local[:1]}•••@{domain}"[:40]
    return f"•••{to[-4:]}"


class Deliverer:
    def __init__(self, sessions: sessionmaker[Session], channels: dict[str, Channel], limits: Limits,
                 clock: Callable[[], datetime] = now) -> None:
        self.sessions, self.channels, self.limits, self.clock = sessions, channels, limits, clock
        self._statements = single_statements(sessions)

    def deliver(self, notification_id: str, request: dict[str, Any]) -> str:
        """Returns the final status; raises NotDelivered when it must be retried or dead-lettered."""
        [outcome] = self.deliver_many([(notification_id, request)])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def deliver_many(self, requests: Sequence[tuple[str, dict[str, Any]]],
                     keep_going: Callable[[], bool] = lambda: True) -> list[Outcome]:
        """Each request's outcome, in order. Chunks not started when ``keep_going()`` turns false
        answer NotStarted. A request id repeated in the batch is handled after its first copy, alone,
        so it finds that copy's state (a repeat of a sent request sends nothing)."""
        items, seen, repeats = [], set(), []
        for index, (notification_id, request) in enumerate(requests):
            channel, to = request["channel"], address(request)
            item = _Item(index, notification_id, request, channel, to, recipient_digest(channel, to))
            (repeats if notification_id in seen else items).append(item)
            seen.add(notification_id)
        by_channel: dict[str, list[_Item]] = {}
        for item in items:
            by_channel.setdefault(item.channel, []).append(item)
        chunks = [group[start:start + self.channels[name].batch_limit] for name, group in by_channel.items()
                  for start in range(0, len(group), self.channels[name].batch_limit)]
        chunks += [[item] for item in repeats]
        for chunk in chunks:
            if not keep_going():
                for item in chunk:
                    item.outcome = NotStarted()
                continue
            self._deliver_chunk(chunk)
        outcomes: list[Outcome] = [None] * len(requests)  # type: ignore[list-item]
        for item in items + repeats:
            outcomes[item.index] = item.outcome
        return outcomes

    def _deliver_chunk(self, chunk: list[_Item]) -> None:
        try:
            self._claim(chunk)
        except Exception as exc:  # nothing was claimed
            if len(chunk) > 1:
                for item in chunk:
                    self._deliver_chunk([item])
            else:
                chunk[0].outcome = exc
            return
        to_send, updates = [], []
        for item in chunk:
            if item.status != "sending":
                item.outcome = item.status
                continue
            try:
                item.message = render(item.notification_id, item.request["template"], item.channel, item.to,
                                      item.request.get("variables") or {}, item.request.get("locale", "en"))
            except RenderError as exc:
                updates.append(self._failure(item, str(exc), permanent=True))
                continue
            to_send.append(item)
        for item, result in zip(to_send, self._send(to_send)):
            if isinstance(result, PermanentDeliveryError):
                updates.append(self._failure(item, str(result), permanent=True))
            elif isinstance(result, TransientDeliveryError):
                updates.append(self._failure(item, str(result), permanent=False))
            elif isinstance(result, Exception):  # unexpected: left ``sending``, retried, sent again then
                item.outcome = result
            else:
                moment = self.clock()
                item.outcome = "sent"
                updates.append((item, {"notification_id": item.notification_id, "status": "sent",
                                       "provider_ref": (result or "")[:64] or None, "sent_at": moment,
                                       "updated_at": moment, "last_error": None}))
        self._record(updates)

    def _claim(self, chunk: list[_Item]) -> None:
        """Sets each item's status in one transaction. New requests (the common case) are counted
        against the limits with one query and inserted already ``sending`` (or ``failed`` when
        refused) with one INSERT that skips ids already there (it waits for a concurrent insert of
        the same id to commit); requests seen before take the general path under their row's lock."""
        with self.sessions() as session, session.begin():
            conn = session.connection()
            ids = [item.notification_id for item in chunk]
            existing = set(conn.execute(_EXISTING, {"ids": ids}).scalars())
            new = sorted((item for item in chunk if item.notification_id not in existing),
                         key=lambda item: item.notification_id)  # one lock order across workers
            if new:
                existing |= self._claim_new(conn, new)
            for item in sorted(chunk, key=lambda item: item.notification_id):
                if item.notification_id in existing and item.status is None:
                    item.status = self._claim_existing(session, item)

    def _claim_new(self, conn, new: list[_Item]) -> set[str]:
        """Inserts the new items' rows; the ids found there meanwhile (their items take the general path)."""
        moment = self.clock()
        hour_ago, day_ago = moment - timedelta(hours=1), moment - timedelta(days=1)
        recent = {digest: [hour, day] for digest, hour, day in conn.execute(_RECENT_BY_RECIPIENT, {
            "digests": sorted({item.digest for item in new}), "hour_ago": hour_ago, "day_ago": day_ago})}
        rows = []
        for item in new:
            counts = recent.setdefault(item.digest, [0, 0])
            refusal = self._refusal_by_count(item.request, *counts)
            if not refusal:
                counts[0], counts[1] = counts[0] + 1, counts[1] + 1  # the batch's own earlier requests count
            rows.append(dict(id=item.notification_id, channel=item.channel, template=item.request["template"],
                             recipient_digest=item.digest, recipient_hint=hint(item.channel, item.to),
                             status="failed" if refusal else "sending", attempts=0 if refusal else 1,
                             last_error=refusal[:200] if refusal else None, created_at=moment, updated_at=moment))
        if len(rows) == 1:
            inserted = set(conn.execute(_INSERT_NEW, rows[0]).scalars())
        else:  # executemany: SQLAlchemy sends the rows as one INSERT … VALUES (…), (…) … RETURNING
            inserted = set(conn.execute(_INSERT_MANY[conn.dialect.name], rows).scalars())
        for item, row in zip(new, rows):
            if item.notification_id in inserted:
                item.status = row["status"]
        return {item.notification_id for item in new} - inserted

    def _claim_existing(self, session: Session, item: _Item) -> str:
        """A request whose state row exists: final states are answered without sending; otherwise
        it is checked again and marked ``sending`` (under the row's lock)."""
        row = session.get(Notification, item.notification_id, with_for_update=True)
        if row.status in FINAL:
            return row.status
        refusal = self._refusal(session, row.id, row.recipient_digest, item.request)
        if refusal:
            self._fail(row, refusal)
            return "failed"
        row.status, row.attempts, row.updated_at = "sending", row.attempts + 1, self.clock()
        return "sending"

    def _refusal(self, session: Session, notification_id: str, digest: str, request: dict[str, Any]) -> str | None:
        moment = self.clock()
        hour_ago, day_ago = moment - timedelta(hours=1), moment - timedelta(days=1)
        last_hour, last_day = session.connection().execute(_RECENT, {
            "hour_ago": hour_ago, "day_ago": day_ago, "digest": digest, "notification_id": notification_id}).one()
        return self._refusal_by_count(request, last_hour, last_day)

    def _refusal_by_count(self, request: dict[str, Any], last_hour: int, last_day: int) -> str | None:
        expires = request.get("expires_at")
        if expires is not None and aware(expires) <= self.clock():
            return "expired before it could be sent"
        if last_hour >= self.limits.per_hour or last_day >= self.limits.per_day:
            return "rate limited: too many messages to this recipient"
        return None

    def _send(self, items: list[_Item]) -> list[Any]:
        """One provider call for the chunk; if it raises, one call per message (it delivered none)."""
        if not items:
            return []
        try:
            return self.channels[items[0].channel].send_many([item.message for item in items])
        except Exception as exc:
            if len(items) == 1:
                return [exc]
            return [self._send([item])[0] for item in items]

    def _failure(self, item: _Item, reason: str, *, permanent: bool) -> tuple[_Item, dict[str, Any]]:
        item.outcome = NotDelivered(reason, permanent=permanent)
        return item, {"notification_id": item.notification_id, "status": "failed" if permanent else "queued",
                      "last_error": reason[:200], "updated_at": self.clock()}

    def _record(self, updates: list[tuple[_Item, dict[str, Any]]]) -> None:
        """The chunk's results in one transaction (one UPDATE alone needs none); if that fails, one by
        one, and a request whose result could not be recorded is retried (its row left ``sending``)."""
        if not updates:
            return
        engine = self._statements.kw["bind"]
        try:
            if len(updates) == 1:
                with engine.connect() as conn:  # autocommit: one round trip
                    conn.execute(_MARK, updates[0][1])
                return
            with self.sessions.kw["bind"].begin() as conn:
                for keys in {tuple(sorted(params)) for _, params in updates}:
                    conn.execute(_MARK, [params for _, params in updates if tuple(sorted(params)) == keys])
        except Exception as exc:
            if len(updates) == 1:
                updates[0][0].outcome = exc
                return
            for update_ in updates:
                self._record([update_])

    def _fail(self, row: Notification, reason: str) -> None:
        row.status, row.last_error, row.updated_at = "failed", reason[:200], self.clock()

    def close(self) -> None:
        """The worker is stopping: the channels let go of their connections."""
        for channel in self.channels.values():
            channel.close()

    def give_up(self, notification_id: str, reason: str) -> None:
        """The retry budget is spent: the notification is failed (its copy goes to the dead letters)."""
        with self.sessions() as session, session.begin():
            row = session.get(Notification, notification_id, with_for_update=True)
            if row is not None and row.status not in FINAL:
                self._fail(row, reason)

    def provider_status(self, provider_ref: str, status: str) -> bool:
        """A provider's delivery report (Twilio status callback). Returns False for unknown references."""
        with self.sessions() as session, session.begin():
            row = session.scalar(select(Notification).where(Notification.provider_ref == provider_ref)
                                 .with_for_update())
            if row is None:
                return False
            moment = self.clock()
            if status == "delivered":
                row.status, row.delivered_at = "delivered", moment
            elif status in ("failed", "undelivered", "busy", "no-answer", "canceled"):
                row.status, row.last_error = "failed", f"provider reported {status}"
            row.updated_at = moment
            return True
