"""Audit events: who, which client, from where, what happened, with what outcome. Never secrets."""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from services.identity.db.models import AuditEvent
from services.identity.domain.time import now
from shared.logging import redact_value


def record(session: Session, event: str, outcome: str, *, account_id: str | None = None,
           client_id: str | None = None, ip: str | None = None, **detail: Any) -> None:
    session.add(AuditEvent(occurred_at=now(), event=event, outcome=outcome, account_id=account_id,
                           client_id=client_id, ip=ip,
                           detail={key: redact_value(key, value) for key, value in detail.items()}))
