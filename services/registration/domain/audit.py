"""The registration audit trail: every identification, proof, link and office action.

Details never hold PHI, codes or tokens: ids, grades, channels and reasons only.
"""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from services.registration.db.models import AuditEvent
from services.registration.domain.time import now

log = logging.getLogger("carekey.registration.audit")

_INSERT = insert(AuditEvent.__table__)  # built once: building a statement costs more than running it


def record(session: Session, action: str, outcome: str, *, practice_id: str | None = None,
           entry_id: int | None = None, account_id: str | None = None, actor: str | None = "patient",
           ip: str | None = None, **details: Any) -> None:
    """Written at once, in the caller's transaction (it commits or rolls back with what it records)."""
    session.connection().execute(_INSERT, {"at": now(), "practice_id": practice_id, "action": action,
                                           "outcome": outcome, "entry_id": entry_id, "account_id": account_id,
                                           "actor": actor, "ip": ip, "details": details})
    log.info("audit", extra={"action": action, "outcome": outcome, "practice_id": practice_id})


def events(session: Session, practice_id: str, *, limit: int = 100, action: str | None = None) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.practice_id == practice_id)
    if action:
        query = query.where(AuditEvent.action == action)
    return list(session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit)))


def describe(event: AuditEvent) -> dict[str, Any]:
    return {"id": event.id, "at": event.at.isoformat(), "practice_id": event.practice_id, "action": event.action,
            "outcome": event.outcome, "entry_id": event.entry_id, "account_id": event.account_id,
            "actor": event.actor, "details": event.details}
