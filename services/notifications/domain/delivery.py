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

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from services.notifications.channels.base import Channel, PermanentDeliveryError, TransientDeliveryError
from services.notifications.db.models import Notification
from services.notifications.domain.clock import aware, now
from services.notifications.domain.rendering import RenderError, render

FINAL = ("sent", "delivered", "failed")


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

    def deliver(self, notification_id: str, request: dict[str, Any]) -> str:
        """Returns the final status; raises NotDelivered when it must be retried or dead-lettered."""
        channel, to = request["channel"], address(request)
        with self.sessions() as session, session.begin():
            row = session.get(Notification, notification_id, with_for_update=True)
            if row is None:
                row = Notification(id=notification_id, channel=channel, template=request["template"],
                                   recipient_digest=recipient_digest(channel, to), recipient_hint=hint(channel, to),
                                   status="queued", attempts=0, created_at=self.clock(), updated_at=self.clock())
                session.add(row)
                session.flush()
            if row.status in FINAL:
                return row.status
            refusal = self._refusal(session, row, request)
            if refusal:
                self._fail(row, refusal)
                return "failed"
            row.status, row.attempts, row.updated_at = "sending", row.attempts + 1, self.clock()
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
        self._record(notification_id, sent=reference)
        return "sent"

    def _refusal(self, session: Session, row: Notification, request: dict[str, Any]) -> str | None:
        expires = request.get("expires_at")
        if expires is not None and aware(expires) <= self.clock():
            return "expired before it could be sent"
        moment = self.clock()
        hour_ago, day_ago = moment - timedelta(hours=1), moment - timedelta(days=1)
        last_hour, last_day = session.execute(
            select(func.count().filter(Notification.created_at >= hour_ago), func.count())
            .where(Notification.recipient_digest == row.recipient_digest, Notification.id != row.id,
                   Notification.status.in_(("sending", "sent", "delivered")),
                   Notification.created_at >= day_ago)).one()
        if last_hour >= self.limits.per_hour or last_day >= self.limits.per_day:
            return "rate limited: too many messages to this recipient"
        return None

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
