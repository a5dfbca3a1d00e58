"""Rate limits on identification, proof and code endpoints: fixed-window counters per key.

A hit is charged atomically (an upsert returning the new count) before the guarded work runs, so
parallel attempts cannot slip past a limit. Keys hash the IP or record, so the table holds no PHI.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import DateTime, Integer, String, bindparam, text
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


# text, as identity's login throttle: a dialect's insert().on_conflict_do_update() is not cacheable and
# would be compiled again on every charge; this is compiled once, for PostgreSQL and SQLite alike.
# The counter starts at 1, or goes up by one (restarting a window that has passed): the new count.
_CHARGE = text(f"""
    INSERT INTO {Throttle.__tablename__} (key, count, window_started_at) VALUES (:counter_key, 1, :moment)
    ON CONFLICT (key) DO UPDATE SET
        count = CASE WHEN {Throttle.__tablename__}.window_started_at <= :window_cutoff THEN 1
                     ELSE {Throttle.__tablename__}.count + 1 END,
        window_started_at = CASE WHEN {Throttle.__tablename__}.window_started_at <= :window_cutoff THEN :moment
                                 ELSE {Throttle.__tablename__}.window_started_at END
    RETURNING count""").bindparams(
    bindparam("counter_key", type_=String()), bindparam("moment", type_=DateTime(timezone=True)),
    bindparam("window_cutoff", type_=DateTime(timezone=True))).columns(count=Integer())


def hit(session: Session, limit: Limit, subject: str | int | None) -> bool:
    """Charge one attempt; True while the subject is within its limit."""
    if subject is None or subject == "":
        return True
    moment = now()
    count = session.execute(_CHARGE, {"counter_key": _key(limit, str(subject)), "moment": moment,
                                      "window_cutoff": moment - limit.window}).scalar_one()
    return count <= limit.count
