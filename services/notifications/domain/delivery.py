"""Delivering one notification request: idempotent on its id, rate-limited per recipient, never a
code past its expiry, and every state change recorded (queued → sending → sent → delivered, or
failed).

A request is handled at least once by the broker; the state row makes it effective once: a request
whose notification is already sent, delivered or failed is acknowledged without sending. The one
window left is a worker dying after the provider accepted a message and before `sent` was
recorded; the message then goes out again on redelivery (SMTP carries a stable Message-ID).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

from sqlalchemy import DateTime, String, bindparam, func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from services.notifications.channels.base import Channel, PermanentDeliveryError, TransientDeliveryError
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


@dataclass(frozen=True)
class Limits:
    per_hour: int
    per_day: int


class NotDelivered(Exception):
    """Raised after recording a failure; ``permanent`` decides retry or dead letter."""

    def __init__(self, reason: str, permanent: bool) -> None:
        super().__init__(reason)
        self.permanent = permanent


def address(request: dict[str, Any]) -> str:
    return request["recipient"]["email"] if request["channel"] == "email" else request["recipient"]["phone"]


def recipient_digest(channel: str, to: str) -> str:
    return hashlib.sha256(f"{channel}:{to.strip().lower()}".encode()).hexdigest()


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
        channel, to = request["channel"], address(request)
        status = self._claim_new(notification_id, request, channel, to)
        if status is None:  # seen before (a redelivery or a retry): the general path
            status = self._claim_existing(notification_id, request, channel, to)
        if status != "sending":
            return status
        try:
            message = render(notification_id, request["template"], channel, to, request.get("variables") or {},
                             request.get("locale", "en"))
            reference = self.channels[channel].send(message)
        except RenderError as exc:
            self._record(notification_id, failed=str(exc))
            raise NotDelivered(str(exc), permanent=True) from None
        except PermanentDeliveryError as exc:
            self._record(notification_id, failed=str(exc))
            raise NotDelivered(str(exc), permanent=True) from None
        except TransientDeliveryError as exc:
            self._record(notification_id, retry=str(exc))
            raise NotDelivered(str(exc), permanent=False) from None
        self._record_sent(notification_id, reference)
        return "sent"

    def _claim_new(self, notification_id: str, request: dict[str, Any], channel: str, to: str) -> str | None:
        """The common case, a request never seen: its state row is inserted already ``sending`` (or
        ``failed`` when refused) in one short transaction: the rate count, then an INSERT that does
        nothing when the id exists (it waits for a concurrent insert of the same id to commit).
        None when the id exists: the caller takes the general path."""
        digest = recipient_digest(channel, to)
        with self.sessions() as session, session.begin():
            refusal = self._refusal(session, notification_id, digest, request)
            moment = self.clock()
            status = "failed" if refusal else "sending"
            inserted = session.connection().execute(_INSERT_NEW, dict(
                id=notification_id, channel=channel, template=request["template"], recipient_digest=digest,
                recipient_hint=hint(channel, to), status=status, attempts=0 if refusal else 1,
                last_error=refusal[:200] if refusal else None, created_at=moment, updated_at=moment)).first()
        return status if inserted is not None else None

    def _claim_existing(self, notification_id: str, request: dict[str, Any], channel: str, to: str) -> str:
        """A request whose state row exists: final states are answered without sending; otherwise
        it is checked again and marked ``sending`` (under the row's lock)."""
        with self.sessions() as session, session.begin():
            row = session.get(Notification, notification_id, with_for_update=True)
            if row is None:  # gone since the insert was refused (never happens: rows are kept)
                row = Notification(id=notification_id, channel=channel, template=request["template"],
                                   recipient_digest=recipient_digest(channel, to), recipient_hint=hint(channel, to),
                                   status="queued", attempts=0, created_at=self.clock(), updated_at=self.clock())
                session.add(row)
                session.flush()
            if row.status in FINAL:
                return row.status
            refusal = self._refusal(session, row.id, row.recipient_digest, request)
            if refusal:
                self._fail(row, refusal)
                return "failed"
            row.status, row.attempts, row.updated_at = "sending", row.attempts + 1, self.clock()
            return "sending"

    def _refusal(self, session: Session, notification_id: str, digest: str, request: dict[str, Any]) -> str | None:
        expires = request.get("expires_at")
        if expires is not None and aware(expires) <= self.clock():
            return "expired before it could be sent"
        moment = self.clock()
        hour_ago, day_ago = moment - timedelta(hours=1), moment - timedelta(days=1)
        last_hour, last_day = session.connection().execute(_RECENT, {
            "hour_ago": hour_ago, "day_ago": day_ago, "digest": digest, "notification_id": notification_id}).one()
        if last_hour >= self.limits.per_hour or last_day >= self.limits.per_day:
            return "rate limited: too many messages to this recipient"
        return None

    def _record_sent(self, notification_id: str, reference: str | None) -> None:
        """One UPDATE on an autocommit connection (it takes the row's lock itself)."""
        moment = self.clock()
        with self._statements.kw["bind"].connect() as conn:
            conn.execute(_MARK, {"notification_id": notification_id, "status": "sent",
                                 "provider_ref": (reference or "")[:64] or None, "sent_at": moment,
                                 "updated_at": moment, "last_error": None})

    def _fail(self, row: Notification, reason: str) -> None:
        row.status, row.last_error, row.updated_at = "failed", reason[:200], self.clock()

    def _record(self, notification_id: str, *, sent: str | None = None, failed: str | None = None,
                retry: str | None = None) -> None:
        with self.sessions() as session, session.begin():
            row = session.get(Notification, notification_id, with_for_update=True)
            moment = self.clock()
            if failed is not None:
                self._fail(row, failed)
            elif retry is not None:
                row.status, row.last_error, row.updated_at = "queued", retry[:200], moment
            else:
                row.status, row.provider_ref, row.sent_at, row.updated_at, row.last_error = (
                    "sent", (sent or "")[:64] or None, moment, moment, None)

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
