"""Audit events: who, which client, from where, what happened, with what outcome. Never secrets."""
from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from services.identity.db.models import AuditEvent
from services.identity.domain.time import now
from shared.logging import redact_value

# built once: constructing a statement costs more than running it (bench/README.md, "refresh_token")
_INSERT = insert(AuditEvent.__table__)


def record(session: Session, event: str, outcome: str, *, account_id: str | None = None,
           client_id: str | None = None, ip: str | None = None, **detail: Any) -> None:
    """Written at once, in the caller's transaction (so it commits or rolls back with what it records)."""
    session.connection().execute(_INSERT, {
        "occurred_at": now(), "event": event, "outcome": outcome, "account_id": account_id,
        "client_id": client_id, "ip": ip, "detail": {key: redact_value(key, value) for key, value in detail.items()}})


def recent_sign_ins(session: Session, account_id: str, limit: int = 10) -> list[AuditEvent]:
    """The account's recent sign-in activity, for the patient to review."""
    from sqlalchemy import select
    return list(session.scalars(select(AuditEvent).where(
        AuditEvent.account_id == account_id, AuditEvent.event.in_(("login", "lockout", "second_factor", "recovery")))
        .order_by(AuditEvent.id.desc()).limit(limit)))
