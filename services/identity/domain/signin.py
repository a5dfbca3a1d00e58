"""Password sign-in with brute-force limits, without telling whether a username exists."""
from __future__ import annotations

from dataclasses import dataclass

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


def sign_in_with_password(session: Session, username: str, password: str, ip: str | None,
                          limits: throttle.Limits, *, client_id: str | None = None) -> Outcome:
    key = accounts.username_key(username or "")
    verdict = throttle.charge_attempt(session, key, ip, limits)
    if not verdict.allowed:
        audit.record(session, "login", verdict.reason, client_id=client_id, ip=ip)
        return Outcome(None, verdict.reason)
    result = accounts.authenticate_password(session, username, password)
    if result.ok:
        throttle.record_success(session, key, ip)
        return Outcome(result.account)
    locked = throttle.record_failure(session, key, ip, verdict, limits)
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
