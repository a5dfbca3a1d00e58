"""Rate limits on identification, proof and code endpoints: fixed-window counters per key.

A hit is charged atomically (an upsert returning the new count and when its window started) before the
guarded work runs, so parallel attempts cannot slip past a limit; a refused hit still counts. Its
answer says when the window frees (``retry_after``, for the ``Retry-After`` of a 429). Keys hash the IP
or record, so the table holds no PHI.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

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


def match_per_client(per_minute: int) -> Limit:
    """$match, per operator client and practice: the practice's match_per_minute setting."""
    return Limit("match-client", per_minute, timedelta(minutes=1))


@dataclass(frozen=True)
class Charge:
    """The answer to a hit: true while within the limit."""
    allowed: bool
    retry_after: int = 0  # seconds until the window frees, when refused

    def __bool__(self) -> bool:
        return self.allowed


class Throttled(Exception):
    """A limit the person may be told about (per IP): wait ``retry_after`` seconds."""

    def __init__(self, limit: Limit, retry_after: int) -> None:
        super().__init__(f"{limit.name}: retry after {retry_after} s")
        self.limit, self.retry_after = limit, retry_after


def _key(limit: Limit, subject: str) -> str:
    return f"{limit.name}:{hashlib.sha256(subject.encode()).hexdigest()[:40]}"


def exhausted(session: Session, limit: Limit, subject: str | int) -> bool:
    """Has the subject already used up its limit in the current window (without charging)?"""
    row = session.get(Throttle, _key(limit, str(subject)))
    return bool(row and row.count >= limit.count and aware(row.window_started_at) > now() - limit.window)


# text, as identity's login throttle: a dialect's insert().on_conflict_do_update() is not cacheable and
# would be compiled again on every charge; this is compiled once, for PostgreSQL and SQLite alike.
# The counter starts at the cost, or goes up by it (restarting a window that has passed): the new count
# and when its window started.
_CHARGE = text(f"""
    INSERT INTO {Throttle.__tablename__} (key, count, window_started_at) VALUES (:counter_key, :cost, :moment)
    ON CONFLICT (key) DO UPDATE SET
        count = CASE WHEN {Throttle.__tablename__}.window_started_at <= :window_cutoff THEN :cost
                     ELSE {Throttle.__tablename__}.count + :cost END,
        window_started_at = CASE WHEN {Throttle.__tablename__}.window_started_at <= :window_cutoff THEN :moment
                                 ELSE {Throttle.__tablename__}.window_started_at END
    RETURNING count, window_started_at""").bindparams(
    bindparam("counter_key", type_=String()), bindparam("cost", type_=Integer()),
    bindparam("moment", type_=DateTime(timezone=True)),
    bindparam("window_cutoff", type_=DateTime(timezone=True))).columns(count=Integer(),
                                                                       window_started_at=DateTime(timezone=True))


def _seconds_until(moment: datetime) -> int:
    return max(1, math.ceil((aware(moment) - now()).total_seconds()))


def hit(session: Session, limit: Limit, subject: str | int | None, *, cost: int = 1) -> Charge:
    """Charge *cost* attempts; allowed while the subject is within its limit."""
    if subject is None or subject == "":
        return Charge(True)
    moment = now()
    count, started = session.execute(_CHARGE, {"counter_key": _key(limit, str(subject)), "cost": cost,
                                               "moment": moment, "window_cutoff": moment - limit.window}).one()
    if count <= limit.count:
        return Charge(True)
    return Charge(False, _seconds_until(started + limit.window))


def require(session: Session, limit: Limit, subject: str | int | None) -> None:
    """Charge one attempt; raise Throttled past the limit."""
    charge = hit(session, limit, subject)
    if not charge:
        raise Throttled(limit, charge.retry_after)
