"""The consumer side of exactly-once: a message id is recorded in the same transaction as the
handler's effects, so a redelivered message is recognised and its effects are not repeated."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Column, DateTime, MetaData, String, Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

INBOX_TABLE = "processed_messages"


def define_inbox(metadata: MetaData) -> Table:
    return Table(
        INBOX_TABLE, metadata,
        Column("message_id", String(36), primary_key=True),
        Column("type", String(120), nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False),
    )


def first_delivery(session: Session, table: Table, message_id: str, type_: str) -> bool:
    """Record *message_id* in the caller's transaction; False when it was processed before."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(table).values(message_id=message_id, type=type_,
                                     processed_at=datetime.now(timezone.utc))
    statement = statement.on_conflict_do_nothing().returning(table.c.message_id)
    return session.execute(statement).scalar() is not None  # rowcount is not reliable here on psycopg 3
