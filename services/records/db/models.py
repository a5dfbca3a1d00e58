"""Records' tables: each practice's access rules, teen consents, the built-in records store, and
the append-only access log. The outbox carries its events to the broker after commit."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.messaging.outbox import define_outbox


class Base(DeclarativeBase):
    pass


outbox = define_outbox(Base.metadata)


class Practice(Base):
    """What a practice decided about access to its records (a practice without a row gets the defaults)."""

    __tablename__ = "practices"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    notes_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    proxy_full_under: Mapped[int] = mapped_column(Integer, default=12)
    adult_at: Mapped[int] = mapped_column(Integer, default=18)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TeenConsent(Base):
    """A teen at a practice agreed that their proxies may see their records."""

    __tablename__ = "teen_consents"

    practice_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agreed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class StoredResource(Base):
    """One FHIR R4 resource of the built-in store, as JSON, with the patient it belongs to.

    ``shared`` is the practice's release mark for results (it becomes a ``meta.tag`` when read).
    """

    __tablename__ = "stored_resources"
    __table_args__ = (Index("ix_stored_resources_patient", "practice_id", "patient_id", "resource_type"),)

    practice_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    patient_id: Mapped[str | None] = mapped_column(String(64))
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    body: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AccessEvent(Base):
    """Who read whose records, what, where, when and with what outcome. Append-only: the code has
    no update or delete path, and the database refuses both (a trigger, see the migration)."""

    __tablename__ = "access_events"
    __table_args__ = (Index("ix_access_events_patient", "practice_id", "patient_id", "recorded_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    subject: Mapped[str] = mapped_column(String(255))
    client_id: Mapped[str] = mapped_column(String(255))
    relationship: Mapped[str | None] = mapped_column(String(16))
    practice_id: Mapped[str] = mapped_column(String(64))
    patient_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))
    resource_type: Mapped[str | None] = mapped_column(String(64))
    resource_ids: Mapped[str | None] = mapped_column(Text)
    query: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(32))
    status: Mapped[int] = mapped_column(Integer)
    request_id: Mapped[str | None] = mapped_column(String(64))
