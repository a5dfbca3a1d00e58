"""Notifications' tables: delivery state per notification (never the message body, never a code;
a redelivered request finds its row), and, for the embedded default only, the local outbox of what
would have been sent."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.messaging.outbox import define_outbox


class Base(DeclarativeBase):
    type_annotation_map = {datetime: DateTime(timezone=True)}


outbox = define_outbox(Base.metadata)

STATUSES = ("queued", "sending", "sent", "delivered", "failed")


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_recipient_time", "recipient_digest", "created_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the request's message id
    channel: Mapped[str] = mapped_column(String(10))
    template: Mapped[str] = mapped_column(String(40))
    recipient_digest: Mapped[str] = mapped_column(String(64))  # for rate limits, no address kept
    recipient_hint: Mapped[str] = mapped_column(String(40))  # "p•••@example.org", "•••0123"
    status: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    provider_ref: Mapped[str | None] = mapped_column(String(64), index=True)
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]


class LocalOutboxMessage(Base):
    """What the console channel 'sent' (embedded default only), shown at /outbox."""
    __tablename__ = "local_outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    notification_id: Mapped[str] = mapped_column(String(36), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    to: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str | None] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
