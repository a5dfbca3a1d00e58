"""Sign-in codes by text or voice: a restricted fallback second factor (NIST SP 800-63B §5.1.3.3).
6 digits, 10 minutes, single use, 5 attempts, at most 3 sends, and a new send keeps the attempts.
Codes are kept as an HMAC and travel through the notifications service."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlalchemy.orm import Session

from services.identity.db.models import Account, PhoneCode, outbox
from services.identity.domain.time import aware, now
from shared.messaging.notifications import request_notification

TTL = timedelta(minutes=10)
MAX_ATTEMPTS = 5
MAX_SENDS = 3


def available(account: Account) -> bool:
    return bool(account.sms_factor and account.phone_verified and account.phone)


def _digest(secret_key: bytes, interaction_id: str, code: str) -> str:
    return hmac.new(secret_key, f"phone:{interaction_id}:{code}".encode(), hashlib.sha256).hexdigest()


def send(session: Session, account: Account, interaction_id: str, channel: str, secret_key: bytes) -> bool:
    """Send a code to the verified phone; False when the send limit is reached."""
    if not available(account) or channel not in ("sms", "voice"):
        return False
    row = session.get(PhoneCode, interaction_id, with_for_update=True)
    if row is None:
        row = PhoneCode(interaction_id=interaction_id, account_id=account.id, attempts=0, sends=0, expires_at=now())
        session.add(row)
    if row.sends >= MAX_SENDS:
        return False
    code = f"{secrets.randbelow(10**6):06d}"
    row.code_digest, row.expires_at, row.sends = _digest(secret_key, interaction_id, code), now() + TTL, row.sends + 1
    request_notification(session, outbox, channel=channel, recipient={"phone": account.phone},
                         template="verification_code", variables={"code": code, "minutes": 10},
                         expires_at=row.expires_at)
    return True


def verify(session: Session, account_id: str, interaction_id: str, code: str, secret_key: bytes) -> bool:
    row = session.get(PhoneCode, interaction_id, with_for_update=True)
    if row is None or row.account_id != account_id or row.code_digest is None:
        return False
    row.attempts += 1
    if row.attempts > MAX_ATTEMPTS or aware(row.expires_at) <= now():
        return False
    code = "".join(ch for ch in (code or "") if ch.isdigit())
    if not hmac.compare_digest(_digest(secret_key, interaction_id, code), row.code_digest):
        return False
    row.code_digest = None
    return True
