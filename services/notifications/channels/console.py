"""The embedded default's channel: nothing leaves the machine; messages land in a local outbox that
the notifications service shows at /outbox, so a newcomer can read invitations and codes.

A local INSERT is cheap, so one call takes a whole batch: one multi-row INSERT, all rows or none. The
outbox is idempotent on the notification id, as a provider with an idempotency key is: a message
already there is not appended again (a worker that died after appending a batch and before recording
it ``sent`` leaves no second copy when the batch is redelivered)."""
from __future__ import annotations

from typing import Sequence

from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session, sessionmaker

from services.notifications.channels.base import Outgoing, TimedChannel
from services.notifications.db.models import LocalOutboxMessage
from services.notifications.domain.clock import now

_TABLE = LocalOutboxMessage.__table__
# built once; RETURNING gives the rows in the order of VALUES (sort_by_parameter_order)
_APPEND = insert(_TABLE).returning(_TABLE.c.id, sort_by_parameter_order=True)
_APPENDED = select(_TABLE.c.notification_id, _TABLE.c.id).where(
    _TABLE.c.notification_id.in_(bindparam("ids", expanding=True)))


class ConsoleOutbox(TimedChannel):
    batch_limit = 500

    def __init__(self, name: str, sessions: sessionmaker[Session]) -> None:
        self.name = name
        self.engine = sessions.kw["bind"]

    def _send(self, message: Outgoing) -> str | None:
        return self._send_many([message])[0]

    def _send_many(self, messages: Sequence[Outgoing]) -> list[str | None]:
        moment = now()
        with self.engine.begin() as conn:
            appended = dict(conn.execute(_APPENDED, {"ids": [m.notification_id for m in messages]}).all())
            new = [m for m in messages if m.notification_id not in appended]
            if new:
                rows = [dict(notification_id=m.notification_id, channel=m.channel, to=m.to, subject=m.subject,
                             text=m.text, html=m.html, created_at=moment) for m in new]
                appended.update(zip((m.notification_id for m in new), conn.execute(_APPEND, rows).scalars().all()))
        return [f"local-{appended[m.notification_id]}" for m in messages]
