"""The embedded default's channel: nothing leaves the machine; messages land in a local outbox
that the notifications service shows at /outbox, so a newcomer can read invitations and codes.

A local INSERT is cheap, so one call takes a whole batch: one multi-row INSERT, all rows or none."""
from __future__ import annotations

from typing import Sequence

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from services.notifications.channels.base import Outgoing, TimedChannel
from services.notifications.db.models import LocalOutboxMessage
from services.notifications.domain.clock import now
from shared.database import single_statements


# built once; RETURNING gives the rows in the order of VALUES (sort_by_parameter_order)
_APPEND = insert(LocalOutboxMessage.__table__).returning(LocalOutboxMessage.__table__.c.id,
                                                         sort_by_parameter_order=True)


class ConsoleOutbox(TimedChannel):
    batch_limit = 500

    def __init__(self, name: str, sessions: sessionmaker[Session]) -> None:
        self.name = name
        self.sessions = sessions
        self._statements = single_statements(sessions)

    def _send(self, message: Outgoing) -> str | None:
        return self._send_many([message])[0]

    def _send_many(self, messages: Sequence[Outgoing]) -> list[str | None]:
        moment = now()
        rows = [dict(notification_id=m.notification_id, channel=m.channel, to=m.to, subject=m.subject, text=m.text,
                     html=m.html, created_at=moment) for m in messages]
        with self._statements.kw["bind"].connect() as conn:  # one statement: its own transaction
            ids = conn.execute(_APPEND, rows).scalars().all()
        return [f"local-{row_id}" for row_id in ids]
