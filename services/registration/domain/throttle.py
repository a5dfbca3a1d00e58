"""Rate limits on identification, proof and code endpoints: fixed-window counters per key.

A hit is charged atomically (an upsert returning the new count) before the guarded work runs, so
parallel attempts cannot slip past a limit. Keys hash the IP or record, so the table holds no PHI.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, case
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from services.registration.db.models import Throttle
from services.registration.domain.time import aware, now


@dataclass(frozen=True)
class Limit:
    name: str
    count: int
    window: timedelta


# per client IP
IDENTIFY_PER_IP = Limit("identify-ip", 20, timedelta(minutes=15))
CODE_ENTRY_PER_IP = Limit("code-ip", 20, timedelta(minutes=15))       # activation/security/proxy codes, PINs
SENDS_PER_IP = Limit("send-ip", 10, timedelta(hours=1))
# per roster record, whoever asks
IDENTIFY_PER_RECORD = Limit("identify-rec", 10, timedelta(hours=1))
PROOF_FAILURES_PER_RECORD = Limit("proof-rec", 10, timedelta(hours=24))
SENDS_PER_RECORD = Limit("send-rec", 6, timedelta(hours=1))
# per operator client
MATCH_PER_CLIENT = Limit("match-client", 600, timedelta(minutes=1))


def _key(limit: Limit, subject: str) -> str:
    return f"{limit.name}:{hashlib.sha256(subject.encode()).hexdigest()[:40]}"


def exhausted(session: Session, limit: Limit, subject: str | int) -> bool:
    """Has the subject already used up its limit in the current window (without charging)?"""
    row = session.get(Throttle, _key(limit, str(subject)))
    return bool(row and row.count >= limit.count and aware(row.window_started_at) > now() - limit.window)


def _charge_statement(insert):
    """Insert the counter at 1, or add one to it (restarting a window that has passed): the new count."""
    table = Throttle.__table__
    stale = table.c.window_started_at <= bindparam("window_cutoff")
    return insert(table).values(key=bindparam("counter_key"), count=1, window_started_at=bindparam("moment")) \
        .on_conflict_do_update(index_elements=[table.c.key], set_={
            "count": case((stale, 1), else_=table.c.count + 1),
            "window_started_at": case((stale, bindparam("moment")), else_=table.c.window_started_at),
        }).returning(table.c.count)


# built once per dialect: the guarded endpoints charge on every request
_CHARGE = {"postgresql": _charge_statement(pg_insert), "sqlite": _charge_statement(sqlite_insert)}


def hit(session: Session, limit: Limit, subject: str | int | None) -> bool:
    """Charge one attempt; True while the subject is within its limit."""
    if subject is None or subject == "":
        return True
    moment = now()
    statement = _CHARGE[session.get_bind().dialect.name]
    count = session.execute(statement, {"counter_key": _key(limit, str(subject)), "moment": moment,
                                        "window_cutoff": moment - limit.window}).scalar_one()
    return count <= limit.count
