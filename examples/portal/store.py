"""Server-side sessions, kept in a database so every gunicorn worker (and every replica, on
PostgreSQL) sees the same ones, and so a back-channel logout can end a session by its ``sid``.

The browser holds only a random session id in the portal's signed cookie; the tokens stay here.
SQLite (the default, one file per portal) serves one host with several workers; point
``PORTAL_DATABASE_URL`` at PostgreSQL to run several replicas.
"""
from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (BigInteger, Column, Index, MetaData, String, Table, Text, create_engine, delete, event,
                        insert, select, update)
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

metadata = MetaData()

sessions = Table(
    "portal_sessions", metadata,
    Column("id", String(64), primary_key=True),
    Column("sid", String(128), nullable=True),         # the OP's session id (ID token ``sid``)
    Column("sub", String(255), nullable=False),
    Column("data", Text, nullable=False),              # tokens and claims, JSON
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Index("portal_sessions_sid", "sid"),
    Index("portal_sessions_sub", "sub"),
)

# Logout tokens already used (their ``jti``), so a replayed one is refused.
used_logout_tokens = Table(
    "portal_logout_tokens", metadata,
    Column("jti", String(128), primary_key=True),
    Column("expires_at", BigInteger, nullable=False),
)


@dataclass
class PortalSession:
    id: str
    sid: str | None
    sub: str
    data: dict[str, Any]
    expires_at: int


class SessionStore:
    def __init__(self, database_url: str, *, lifetime_seconds: int) -> None:
        self.engine = create_engine(database_url, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.lifetime = lifetime_seconds

    def create_tables(self) -> None:
        """Idempotent; several workers starting at once may race, so a lost race is retried."""
        for attempt in range(3):
            try:
                metadata.create_all(self.engine)
                return
            except (IntegrityError, ProgrammingError, OperationalError):
                if attempt == 2:
                    raise
                time.sleep(0.2 * (attempt + 1))

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(select(1))

    def create(self, *, sid: str | None, sub: str, data: dict[str, Any]) -> PortalSession:
        now = int(time.time())
        row = PortalSession(secrets.token_urlsafe(32), sid, sub, data, now + self.lifetime)
        with self.engine.begin() as conn:
            conn.execute(delete(sessions).where(sessions.c.expires_at < now))
            conn.execute(insert(sessions).values(id=row.id, sid=sid, sub=sub, data=json.dumps(data),
                                                 created_at=now, expires_at=row.expires_at))
        return row

    def load(self, session_id: str | None) -> PortalSession | None:
        if not session_id:
            return None
        with self.engine.connect() as conn:
            found = conn.execute(select(sessions).where(sessions.c.id == session_id)).one_or_none()
        if found is None or found.expires_at < int(time.time()):
            return None
        return PortalSession(found.id, found.sid, found.sub, json.loads(found.data), found.expires_at)

    def replace_data(self, session_id: str, data: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(sessions).where(sessions.c.id == session_id).values(data=json.dumps(data)))

    def delete(self, session_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(sessions).where(sessions.c.id == session_id))

    def end_by_logout(self, *, sid: str | None, sub: str | None) -> int:
        """Back-channel logout: the session with that ``sid`` (of that ``sub``, when both are given),
        or every session of ``sub`` when only ``sub`` is given. Returns how many ended."""
        condition = None
        if sid and sub:
            condition = (sessions.c.sid == sid) & (sessions.c.sub == sub)
        elif sid:
            condition = sessions.c.sid == sid
        elif sub:
            condition = sessions.c.sub == sub
        if condition is None:
            return 0
        with self.engine.begin() as conn:
            return conn.execute(delete(sessions).where(condition)).rowcount or 0

    def first_use_of(self, jti: str, expires_at: int) -> bool:
        """Record a logout token's ``jti``; False when it was seen before (a replay)."""
        now = int(time.time())
        try:
            with self.engine.begin() as conn:
                conn.execute(delete(used_logout_tokens).where(used_logout_tokens.c.expires_at < now))
                conn.execute(insert(used_logout_tokens).values(jti=jti, expires_at=max(expires_at, now) + 300))
        except IntegrityError:
            return False
        return True


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
