"""Registration's tables. Codes, PINs and invitation tokens are kept only as digests (SHA-256 for
high-entropy tokens, keyed HMAC for short codes and PINs); the outbox carries events after commit."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.messaging.outbox import define_outbox

TS = DateTime(timezone=True)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON, datetime: TS}


outbox = define_outbox(Base.metadata)


class Practice(Base):
    """A practice and its registration rules (see domain/practices.py for the settings' shape)."""
    __tablename__ = "practices"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    settings: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class RosterEntry(Base):
    """The demographics an office has on file for one patient (MRN unique per practice)."""
    __tablename__ = "roster_entries"
    __table_args__ = (UniqueConstraint("practice_id", "mrn"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    practice_id: Mapped[str] = mapped_column(ForeignKey("practices.id"))
    mrn: Mapped[str] = mapped_column(String(64))
    given_name: Mapped[str] = mapped_column(String(120))
    middle_name: Mapped[str] = mapped_column(String(120), default="")
    family_name: Mapped[str] = mapped_column(String(120))
    birth_date: Mapped[date | None] = mapped_column(Date)  # None: not known (a blank or impossible date on file)
    sex: Mapped[str] = mapped_column(String(16), default="")
    address: Mapped[str] = mapped_column(String(200), default="")
    city: Mapped[str] = mapped_column(String(120), default="")
    state: Mapped[str] = mapped_column(String(32), default="")
    zip: Mapped[str] = mapped_column(String(16), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    phone: Mapped[str] = mapped_column(String(32), default="")
    pin_digest: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class BlockingKey(Base):
    """Indexed keys for candidate search: a match query looks up its probe keys here."""
    __tablename__ = "roster_blocking_keys"
    __table_args__ = (Index("ix_blocking_lookup", "practice_id", "key"),)
    entry_id: Mapped[int] = mapped_column(ForeignKey("roster_entries.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    practice_id: Mapped[str] = mapped_column(String(64))


class MatchingModel(Base):
    """A practice's Fellegi-Sunter parameters (m, u, name frequencies: domain/matching_model.py),
    estimated from its roster and refreshed on every roster import."""
    __tablename__ = "matching_models"
    practice_id: Mapped[str] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"), primary_key=True)
    roster_size: Mapped[int] = mapped_column(Integer)
    params: Mapped[dict[str, Any]]
    estimated_at: Mapped[datetime]


class Invitation(Base):
    """An office's invitation to one roster entry: a link token and an activation code, single use."""
    __tablename__ = "invitations"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    practice_id: Mapped[str] = mapped_column(ForeignKey("practices.id"))
    entry_id: Mapped[int] = mapped_column(ForeignKey("roster_entries.id", ondelete="CASCADE"), index=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    code_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    voided_at: Mapped[datetime | None]


class OfficeCode(Base):
    """A code the office hands to a patient: a security (activation) code proving identity for one
    record, or a proxy code granting someone access to a patient's records."""
    __tablename__ = "office_codes"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # security | proxy
    practice_id: Mapped[str] = mapped_column(ForeignKey("practices.id"))
    entry_id: Mapped[int] = mapped_column(ForeignKey("roster_entries.id", ondelete="CASCADE"), index=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    relationship: Mapped[str | None] = mapped_column(String(32))  # for proxy codes: parent, guardian, ...
    patient_agreed: Mapped[bool] = mapped_column(Boolean, default=False)  # a teen's or adult's agreement, on file
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    voided_at: Mapped[datetime | None]


class Enrollment(Base):
    """One person's way through identification and proof at one practice (see domain/enrollment.py)."""
    __tablename__ = "enrollments"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    practice_id: Mapped[str] = mapped_column(ForeignKey("practices.id"))
    path: Mapped[str] = mapped_column(String(16))  # invitation | signup | security_code | connect | proxy
    stage: Mapped[str] = mapped_column(String(16))  # identify | prove | proven | done | locked
    invitation_id: Mapped[str | None] = mapped_column(String(36))
    # the record an invitation or security code names, else the candidate identification found
    entry_id: Mapped[int | None] = mapped_column(Integer)
    grade: Mapped[str | None] = mapped_column(String(16))  # the candidate's; None: no candidate (a decoy)
    email: Mapped[str | None] = mapped_column(String(254))  # what the person typed at self sign-up
    account_id: Mapped[str | None] = mapped_column(String(36))  # signed-in account (connect), or created
    identify_attempts: Mapped[int] = mapped_column(Integer, default=0)
    proof_attempts: Mapped[int] = mapped_column(Integer, default=0)
    code_sends: Mapped[int] = mapped_column(Integer, default=0)
    code_digest: Mapped[str | None] = mapped_column(String(64))
    code_channel: Mapped[str | None] = mapped_column(String(8))
    # codes are made and "sent" but go nowhere: no candidate, no such contact on file, or not the phone typed
    code_withheld: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    code_expires_at: Mapped[datetime | None]
    proven_by: Mapped[str | None] = mapped_column(String(16))
    proven_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class AccountLink(Base):
    """Which CareKey account a roster entry was linked to, and how (our own record of identity's links)."""
    __tablename__ = "account_links"
    __table_args__ = (UniqueConstraint("entry_id", "account_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("roster_entries.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[str] = mapped_column(String(36), index=True)
    relationship: Mapped[str] = mapped_column(String(16))  # self | proxy
    proxy_kind: Mapped[str | None] = mapped_column(String(32))
    valid_until: Mapped[datetime | None]
    created_at: Mapped[datetime]


class ProxyRequest(Base):
    """A person asks for access to a patient's records; the practice approves or declines."""
    __tablename__ = "proxy_requests"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    practice_id: Mapped[str] = mapped_column(ForeignKey("practices.id"), index=True)
    account_id: Mapped[str] = mapped_column(String(36))
    requester_name: Mapped[str] = mapped_column(String(200))
    entry_id: Mapped[int | None] = mapped_column(Integer)  # the matched patient, None when nothing matched
    relationship: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # pending | approved | declined
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]


class TermsAcceptance(Base):
    __tablename__ = "terms_acceptances"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(String(36), index=True)
    practice_id: Mapped[str] = mapped_column(String(64))
    terms_version: Mapped[str] = mapped_column(String(32))
    privacy_version: Mapped[str] = mapped_column(String(32))
    accepted_at: Mapped[datetime]


class Throttle(Base):
    """Attempt counters per key (an IP, a roster record) in a fixed window."""
    __tablename__ = "throttles"
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    window_started_at: Mapped[datetime]


class AuditEvent(Base):
    """Every identification, proof, link and office action; details never hold PHI or codes."""
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_practice_time", "practice_id", "at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    practice_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(48))
    outcome: Mapped[str] = mapped_column(String(24))
    entry_id: Mapped[int | None] = mapped_column(Integer)
    account_id: Mapped[str | None] = mapped_column(String(36))
    actor: Mapped[str | None] = mapped_column(String(120))  # an operator client id, or "patient"
    ip: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]]
