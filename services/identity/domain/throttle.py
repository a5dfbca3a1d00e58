"""Brute-force limits on password sign-in (NIST SP 800-63B §5.2.2).

* 5 consecutive failures for an account from one IP lock that pair for 15 minutes (the seeds' rule);
* 100 consecutive failures for an account, from anywhere, lock it until it is recovered;
* 50 failures from one IP within 15 minutes pause that IP (credential stuffing).

Each attempt is *charged* atomically (an upsert that returns the new count) before the password is
checked, so concurrent attempts cannot slip past a limit: the sixth of six parallel guesses sees a
count of 6 and is refused without a check. Unknown usernames are counted exactly like known ones.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import DateTime, Integer, String, bindparam, delete, text, update
from sqlalchemy.orm import Session

from services.identity.db.models import LoginThrottle
from services.identity.domain.time import aware, now

FOREVER = timedelta(days=3650)


@dataclass(frozen=True)
class Limits:
    pair_threshold: int = 5
    pair_lock: timedelta = timedelta(minutes=15)
    account_ceiling: int = 100
    ip_threshold: int = 50
    ip_window: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str | None = None  # "pair_locked" | "account_locked" | "ip_throttled"
    pair_failures: int = 0
    account_failures: int = 0


def _digest(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:64]


def keys(username_key: str, ip: str | None) -> tuple[str, str, str]:
    return (f"p:{_digest(username_key, ip or '-')}", f"a:{_digest(username_key)}", f"i:{_digest(ip or '-')}")


# One statement for PostgreSQL and SQLite (both have ON CONFLICT … RETURNING), as text with typed
# parameters: SQLAlchemy compiles it once, whereas a dialect's insert().on_conflict_do_update() is
# compiled again on every execution (it is not cacheable), and sign-in charges three keys.
_CHARGE = text(f"""
    INSERT INTO {LoginThrottle.__tablename__} (key, failures, window_started_at, locked_until, updated_at)
    VALUES (:key, 1, :moment, NULL, :moment)
    ON CONFLICT (key) DO UPDATE SET
        failures = CASE WHEN {{restart}} THEN 1 ELSE {LoginThrottle.__tablename__}.failures + 1 END,
        window_started_at = CASE WHEN {{restart}} THEN :moment ELSE {LoginThrottle.__tablename__}.window_started_at END,
        locked_until = CASE WHEN {{expired}} THEN NULL ELSE {LoginThrottle.__tablename__}.locked_until END,
        updated_at = :moment
    RETURNING failures, locked_until""".format(
    expired=f"({LoginThrottle.__tablename__}.locked_until IS NOT NULL AND "
            f"{LoginThrottle.__tablename__}.locked_until <= :moment)",
    restart=f"(({LoginThrottle.__tablename__}.locked_until IS NOT NULL AND "
            f"{LoginThrottle.__tablename__}.locked_until <= :moment) OR "
            f"({LoginThrottle.__tablename__}.window_started_at <= :stale_before))")).bindparams(
    bindparam("key", type_=String()), bindparam("moment", type_=DateTime(timezone=True)),
    bindparam("stale_before", type_=DateTime(timezone=True))).columns(
    failures=Integer(), locked_until=DateTime(timezone=True))


def _charge(session: Session, key: str, *, window: timedelta | None = None) -> LoginThrottle:
    """Upsert one more failure under *key*, returning the new count: a lock that expired, or a
    window that is over (``window``), starts the count again at 1."""
    moment = now()
    # without a window, ``window_started_at <= NULL`` is never true: only an expired lock restarts
    row = session.execute(_CHARGE, {"key": key, "moment": moment,
                                    "stale_before": moment - window if window else None}).one()
    return LoginThrottle(key=key, failures=row.failures, locked_until=row.locked_until)


def _locked(row: LoginThrottle) -> bool:
    return row.locked_until is not None and aware(row.locked_until) > now()


def charge_attempt(session: Session, username_key: str, ip: str | None, limits: Limits) -> Verdict:
    """Count this attempt as a failure until proven otherwise; say whether it may be checked."""
    pair_key, account_key, ip_key = keys(username_key, ip)
    ip_row = _charge(session, ip_key, window=limits.ip_window)
    pair = _charge(session, pair_key)
    held = session.get(LoginThrottle, account_key)
    if held is not None and (_locked(held) or held.failures >= limits.account_ceiling):
        return Verdict(False, "account_locked", pair.failures, held.failures)
    if _locked(pair) or pair.failures > limits.pair_threshold:
        return Verdict(False, "pair_locked", pair.failures, held.failures if held else 0)
    if _locked(ip_row) or ip_row.failures > limits.ip_threshold:
        return Verdict(False, "ip_throttled", pair.failures, held.failures if held else 0)
    # only attempts whose password is checked count toward the account-wide ceiling, so refused
    # attempts from a locked pair or IP cannot be used to lock the owner out
    account = _charge(session, account_key)
    session.flush()
    if account.failures > limits.account_ceiling:
        return Verdict(False, "account_locked", pair.failures, account.failures)
    return Verdict(True, None, pair.failures, account.failures)


def record_failure(session: Session, username_key: str, ip: str | None, verdict: Verdict, limits: Limits) -> str | None:
    """After a wrong password: lock what reached its limit. Returns "pair" or "account" when locking."""
    pair_key, account_key, ip_key = keys(username_key, ip)
    moment = now()
    locked = None
    if verdict.account_failures >= limits.account_ceiling:
        session.get(LoginThrottle, account_key).locked_until = moment + FOREVER
        locked = "account"
    elif verdict.pair_failures >= limits.pair_threshold:
        session.get(LoginThrottle, pair_key).locked_until = moment + limits.pair_lock
        locked = "pair"
    ip_row = session.get(LoginThrottle, ip_key)
    if ip_row.failures >= limits.ip_threshold and not _locked(ip_row):
        ip_row.locked_until = moment + limits.ip_window
    return locked


def record_success(session: Session, username_key: str, ip: str | None) -> None:
    """A right password: the consecutive-failure counts for this account start again."""
    pair_key, account_key, ip_key = keys(username_key, ip)
    session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_([pair_key, account_key])))
    session.execute(update(LoginThrottle).where(LoginThrottle.key == ip_key, LoginThrottle.failures > 0)
                    .values(failures=LoginThrottle.failures - 1))  # only failures count against an IP


def unlock_account(session: Session, username_key: str, ip: str | None = None) -> None:
    """After recovery (a password reset): the account-wide lock and its count are cleared, and so
    is the pause of the (account, IP) pair the reset was completed from: "reset your password" on
    the lockout page must let the patient back in, and whoever read the code owns the account anyway."""
    pair_key, account_key, _ = keys(username_key, ip)
    cleared = [account_key, pair_key] if ip else [account_key]
    session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(cleared)))


def charge_limited(session: Session, key: str, limit: int, window: timedelta) -> bool:
    """Count one more action under *key* in a sliding window; False once over *limit*."""
    return _charge(session, key, window=window).failures <= limit


def hashed_key(prefix: str, *parts: str) -> str:
    return f"{prefix}:{_digest(*parts)}"
