"""Notifications' tables. The inbox records which requests were already handled."""
from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from shared.messaging.inbox import define_inbox
from shared.messaging.outbox import define_outbox


class Base(DeclarativeBase):
    pass


inbox = define_inbox(Base.metadata)
outbox = define_outbox(Base.metadata)
