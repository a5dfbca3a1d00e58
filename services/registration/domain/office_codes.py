"""Codes an office hands to a patient or their representative (seed 002):

* a **security code** proves identity for one record (registration "by username with a security
  code"), and
* a **proxy code** lets the person holding it act for a patient (a child, a spouse), within the
  practice's proxy rules.

Single use, time-limited, stored only as a keyed digest; a new code of the same kind voids the old.
"""
from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.registration.db.models import OfficeCode, RosterEntry
from services.registration.domain import secrets
from services.registration.domain.practices import PracticeView
from services.registration.domain.time import aware, now

KINDS = ("security", "proxy")
RELATIONSHIPS = ("parent", "guardian", "spouse", "caregiver", "other")


def _digest(pepper: str, kind: str, code: str) -> str:
    return secrets.keyed_digest(pepper, f"office-{kind}", "-", secrets.normalise_code(code))


def issue(session: Session, practice: PracticeView, entry: RosterEntry, kind: str, *, pepper: str,
          relationship: str | None = None) -> tuple[OfficeCode, str]:
    """A new code (shown once to the operator, to hand to the patient); earlier ones are voided."""
    if kind not in KINDS:
        raise ValueError(f"kind is one of {', '.join(KINDS)}")
    if kind == "proxy" and relationship not in RELATIONSHIPS:
        raise ValueError(f"relationship is one of {', '.join(RELATIONSHIPS)}")
    moment = now()
    session.execute(update(OfficeCode).where(OfficeCode.entry_id == entry.id, OfficeCode.kind == kind,
                                             OfficeCode.used_at.is_(None), OfficeCode.voided_at.is_(None))
                    .values(voided_at=moment))
    days = practice.settings.security_code_days if kind == "security" else practice.settings.proxy_code_days
    code = secrets.new_readable_code()
    row = OfficeCode(id=str(uuid.uuid4()), kind=kind, practice_id=practice.id, entry_id=entry.id,
                     digest=_digest(pepper, kind, code), relationship=relationship if kind == "proxy" else None,
                     created_at=moment, expires_at=moment + timedelta(days=days))
    session.add(row)
    session.flush()
    return row, code


def find(session: Session, practice_id: str, kind: str, code: str, *, pepper: str) -> OfficeCode | None:
    """The usable code of that kind at that practice, or None (unknown, used, voided, expired alike)."""
    normalised = secrets.normalise_code(code)
    if not 8 <= len(normalised) <= 20:
        return None
    row = session.scalar(select(OfficeCode).where(OfficeCode.digest == _digest(pepper, kind, normalised),
                                                  OfficeCode.practice_id == practice_id, OfficeCode.kind == kind))
    if row is None or row.used_at or row.voided_at or aware(row.expires_at) <= now():
        return None
    return row


def consume(session: Session, code: OfficeCode) -> bool:
    """Mark used; False when someone else used it first (single use even under races)."""
    result = session.execute(update(OfficeCode).where(OfficeCode.id == code.id, OfficeCode.used_at.is_(None))
                             .values(used_at=now()))
    return result.rowcount == 1
