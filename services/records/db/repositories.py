"""Records' repositories: practice rules and teen consents, and the append-only access log.

The access log has ``append`` and reads; there is deliberately no update or delete here, and the
database refuses both (see the migration's trigger).
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.orm import Session, sessionmaker

from services.records.db.connections import ScopedConnections
from services.records.db.models import AccessEvent, Practice, TeenConsent
from services.records.domain.policy import PracticeRules
from services.records.interfaces import AccessRecord
from shared.database import single_statements

MAX_LOG_ROWS = 1000


def now() -> datetime:
    return datetime.now(timezone.utc)


_PRACTICES, _CONSENTS = Practice.__table__, TeenConsent.__table__
# built once: SQLAlchemy then reuses their cache keys and compiled forms
_RULES = select(_PRACTICES.c.notes_enabled, _PRACTICES.c.proxy_full_under, _PRACTICES.c.adult_at).where(
    _PRACTICES.c.id == bindparam("practice_id"))
_CONSENT = select(_CONSENTS.c.patient_id).where(_CONSENTS.c.practice_id == bindparam("practice_id"),
                                                _CONSENTS.c.patient_id == bindparam("patient_id"))


class SqlPracticeDirectory:
    """Read fresh on every request: one single-statement read each (Core, on an autocommit
    connection: no ORM identity map to build for three integers)."""

    def __init__(self, sessions: sessionmaker[Session], connections: ScopedConnections | None = None) -> None:
        self.connections = connections or ScopedConnections(single_statements(sessions).kw["bind"])

    def rules(self, practice_id: str) -> PracticeRules:
        with self.connections.connect() as conn:
            row = conn.execute(_RULES, {"practice_id": practice_id}).first()
        if row is None:
            return PracticeRules(practice_id)
        return PracticeRules(practice_id, notes_enabled=row.notes_enabled, proxy_full_under=row.proxy_full_under,
                             adult_at=row.adult_at)

    def teen_agreed(self, practice_id: str, patient_id: str) -> bool:
        with self.connections.connect() as conn:
            return conn.execute(_CONSENT, {"practice_id": practice_id, "patient_id": patient_id}).first() is not None


def save_practice(session: Session, practice_id: str, *, name: str | None = None, notes_enabled: bool | None = None,
                  proxy_full_under: int | None = None, adult_at: int | None = None) -> Practice:
    """Create a practice's rules with the defaults, or change the ones given."""
    row = session.get(Practice, practice_id)
    if row is None:
        row = Practice(id=practice_id, name=name or practice_id, notes_enabled=True, proxy_full_under=12,
                       adult_at=18, updated_at=now())
        session.add(row)
    for attribute, value in (("name", name), ("notes_enabled", notes_enabled),
                             ("proxy_full_under", proxy_full_under), ("adult_at", adult_at)):
        if value is not None:
            setattr(row, attribute, value)
    if not 0 <= row.proxy_full_under <= row.adult_at <= 30:
        raise ValueError("ages must satisfy 0 <= proxy-full-under <= adult-at <= 30")
    row.updated_at = now()
    session.flush()
    return row


def set_teen_consent(session: Session, practice_id: str, patient_id: str, agreed: bool) -> None:
    if not agreed:
        session.execute(delete(TeenConsent).where(TeenConsent.practice_id == practice_id,
                                                  TeenConsent.patient_id == patient_id))
    elif session.get(TeenConsent, (practice_id, patient_id)) is None:
        session.add(TeenConsent(practice_id=practice_id, patient_id=patient_id, agreed_at=now()))
    session.flush()


_APPEND = insert(AccessEvent.__table__)  # one statement, compiled once (cached by SQLAlchemy)


class SqlAccessLog:
    def __init__(self, sessions: sessionmaker[Session], connections: ScopedConnections | None = None) -> None:
        self.sessions = sessions
        self.connections = connections or ScopedConnections(single_statements(sessions).kw["bind"])

    def record(self, entries: list[AccessRecord]) -> None:
        """Every entry or none, committed when this returns (before any data leaves)."""
        if not entries:
            return
        moment = now()
        rows = [dict(
            id=uuid.uuid4().hex, recorded_at=moment, subject=e.subject[:255], client_id=e.client_id[:255],
            relationship=e.relationship, practice_id=e.practice_id[:64], patient_id=e.patient_id[:64],
            action=e.action, resource_type=e.resource_type, resource_ids=",".join(e.resource_ids) or None,
            query=e.query, outcome=e.outcome, status=e.status, request_id=e.request_id) for e in entries]
        if len(rows) == 1:  # one INSERT on an autocommit connection: its own transaction
            with self.connections.connect() as conn:
                conn.execute(_APPEND, rows[0])
        else:  # several rows (the cross-practice view): all or none
            with self.sessions.kw["bind"].begin() as conn:
                conn.execute(_APPEND, rows)

    def for_patient(self, practice_id: str, patient_id: str) -> list[tuple[str, datetime, AccessRecord]]:
        with self.sessions() as session:
            rows = session.scalars(select(AccessEvent).where(
                AccessEvent.practice_id == practice_id, AccessEvent.patient_id == patient_id)
                .order_by(AccessEvent.recorded_at.desc(), AccessEvent.id).limit(MAX_LOG_ROWS)).all()
        return [(row.id, _aware(row.recorded_at), _record(row)) for row in rows]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _record(row: AccessEvent) -> AccessRecord:
    return AccessRecord(subject=row.subject, client_id=row.client_id, relationship=row.relationship,
                        practice_id=row.practice_id, patient_id=row.patient_id, action=row.action,
                        resource_type=row.resource_type,
                        resource_ids=tuple(row.resource_ids.split(",")) if row.resource_ids else (),
                        query=row.query, outcome=row.outcome, status=row.status, request_id=row.request_id)
