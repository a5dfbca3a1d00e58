"""Registration's tables. The outbox carries its events to the broker after commit."""
from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from shared.messaging.outbox import define_outbox


class Base(DeclarativeBase):
    pass


outbox = define_outbox(Base.metadata)
