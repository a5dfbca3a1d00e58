"""The embedded default's channel: nothing leaves the machine; messages land in a local outbox
that the notifications service shows at /outbox, so a newcomer can read invitations and codes."""
from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from services.notifications.channels.base import Outgoing, TimedChannel
from services.notifications.db.models import LocalOutboxMessage
from services.notifications.domain.clock import now
from shared.database import single_statements


_APPEND = insert(LocalOutboxMessage.__table__).returning(LocalOutboxMessage.__table__.c.id)


class ConsoleOutbox(TimedChannel):
    def __init__(self, name: str, sessions: sessionmaker[Session]) -> None:
        self.name = name
        self.sessions = sessions
        self._statements = single_statements(sessions)

    def _send(self, message: Outgoing) -> str | None:
        with self._statements.kw["bind"].connect() as conn:  # one INSERT … RETURNING, its own transaction
            row_id = conn.execute(_APPEND, dict(
                notification_id=message.notification_id, channel=message.channel, to=message.to,
                subject=message.subject, text=message.text, html=message.html, created_at=now())).scalar_one()
            return f"local-{row_id}"
