"""Password sign-in with brute-force limits, without telling whether a username exists."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, ContextManager

from sqlalchemy.orm import Session

from services.identity.db.models import Account, outbox
from services.identity.domain import accounts, audit, throttle
from services.identity.domain.time import now
from shared.messaging.notifications import request_notification

MESSAGES = {
    "wrong": "The username or password is not right. Check them and try again.",
    "pair_locked": "Too many sign-in attempts. For your security, sign-in is paused for 15 minutes. "
                   "You can also reset your password.",
    "account_locked": "Sign-in to this account is paused after too many attempts. Reset your password to continue.",
    "ip_throttled": "Too many sign-in attempts from your network. Wait a few minutes and try again.",
}


@dataclass(frozen=True)
class Outcome:
    account: Account | None
    refusal: str | None = None

    @property
    def message(self) -> str | None:
        return MESSAGES.get(self.refusal) if self.refusal else None


Counters = Callable[[], ContextManager[Session]]


def sign_in_with_password(session: Session, username: str, password: str, ip: str | None,
                          limits: throttle.Limits, *, client_id: str | None = None,
                          counters: Counters | None = None) -> Outcome:
    """``counters`` opens a short transaction of its own for the brute-force counters (committed
    when it closes). Then the charge is committed before the argon2id check, so the counter rows
    (the IP's row is shared by every patient behind one practice's NAT) are locked only for their
    upsert, never while the password is hashed, and a request that fails after the check cannot
    take its charge back. Without it the counters are written in ``session``."""
    counters = counters or (lambda: contextlib.nullcontext(session))
    key = accounts.username_key(username or "")
    with counters() as counting:
        verdict = throttle.charge_attempt(counting, key, ip, limits)
    if not verdict.allowed:
        audit.record(session, "login", verdict.reason, client_id=client_id, ip=ip)
        return Outcome(None, verdict.reason)
    result = accounts.authenticate_password(session, username, password)
    if result.ok:
        with counters() as counting:
            throttle.record_success(counting, key, ip)
        return Outcome(result.account)
    with counters() as counting:
        locked = throttle.record_failure(counting, key, ip, verdict, limits)
    account = accounts.find_by_username(session, username) if username else None
    audit.record(session, "login", "failed", client_id=client_id, ip=ip,
                 account_id=account.id if account else None)
    if locked:
        audit.record(session, "lockout", locked, account_id=account.id if account else None, client_id=client_id, ip=ip)
        if account is not None and account.email:
            request_notification(session, outbox, channel="email", recipient={"email": account.email},
                                 template="security_alert",
                                 variables={"event": "lockout", "when": now().strftime("%d %b %Y %H:%M UTC")})
        return Outcome(None, "account_locked" if locked == "account" else "pair_locked")
    return Outcome(None, "wrong")
