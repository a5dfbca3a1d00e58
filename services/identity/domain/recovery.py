"""Recovering a forgotten password or user ID (seed 001), without revealing whether an address or
account exists: a flow is created either way, and a code is sent only when something matched.

Codes: 6 digits, 10 minutes, single use, 5 attempts per flow, at most 3 sends, and a new send
does not reset the attempts. Codes are kept as an HMAC under the service's secret key.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.identity.db.models import AccessToken, Account, Grant, RecoveryFlow, RefreshToken, outbox
from services.identity.domain import accounts, mfa, security_questions, sessions, throttle
from services.identity.domain.password_policy import Policy
from services.identity.domain.time import aware, now
from shared.messaging.notifications import request_notification

CODE_TTL = timedelta(minutes=10)
FLOW_TTL = timedelta(minutes=30)
MAX_ATTEMPTS = 5
MAX_SENDS = 3


@dataclass(frozen=True)
class Codes:
    secret_key: bytes

    def digest(self, flow_id: str, code: str) -> str:
        return hmac.new(self.secret_key, f"{flow_id}:{code}".encode(), hashlib.sha256).hexdigest()


def _new_code() -> str:
    return f"{secrets.randbelow(10**6):06d}"


def _account_for(session: Session, identifier: str) -> Account | None:
    identifier = (identifier or "").strip()
    account = accounts.find_by_username(session, identifier) if identifier else None
    if account is None and "@" in identifier:
        matches = session.scalars(select(Account).where(Account.email == identifier.lower())).all() or \
            session.scalars(select(Account).where(Account.email == identifier)).all()
        account = matches[0] if len(matches) == 1 else None
    return account if account is not None and account.disabled_at is None else None


def _send_code(session: Session, flow: RecoveryFlow, account: Account | None, codes: Codes, template: str) -> None:
    code = _new_code()
    # unknown addresses get an unguessable digest: every code is simply wrong
    flow.code_digest = codes.digest(flow.id, code if account else secrets.token_hex(16))
    flow.code_expires_at = now() + CODE_TTL
    flow.sends += 1
    variables = {"code": code, "minutes": int(CODE_TTL.total_seconds() // 60)}
    by_text = flow.target == "sms" and account is not None and account.phone_verified and account.phone
    if by_text:
        request_notification(session, outbox, channel="sms", recipient={"phone": account.phone}, template=template,
                             variables=variables, expires_at=flow.code_expires_at)
    elif account is not None and account.email:
        request_notification(session, outbox, channel="email", recipient={"email": account.email}, template=template,
                             variables=variables, expires_at=flow.code_expires_at)


def start(session: Session, kind: str, account: Account | None, codes: Codes, channel: str = "email") -> RecoveryFlow:
    """``channel`` "sms" texts the code when the account has a confirmed phone (else it is emailed)."""
    moment = now()
    flow = RecoveryFlow(id=secrets.token_urlsafe(32), kind=kind, account_id=account.id if account else None,
                        target="sms" if channel == "sms" else "email",
                        stage="code", attempts=0, sends=0, created_at=moment, expires_at=moment + FLOW_TTL)
    session.add(flow)
    _send_code(session, flow, account, codes, "password_reset" if kind == "password" else "verification_code")
    return flow


def start_password(session: Session, identifier: str, codes: Codes, channel: str = "email") -> RecoveryFlow:
    return start(session, "password", _account_for(session, identifier), codes, channel)


def start_user_id(session: Session, email: str, birth_date: date | None, codes: Codes) -> RecoveryFlow:
    matches = [] if birth_date is None else session.scalars(select(Account).where(
        Account.email == (email or "").strip().lower(), Account.birth_date == birth_date,
        Account.disabled_at.is_(None))).all()
    return start(session, "user_id", matches[0] if matches else None, codes)


def start_contact_change(session: Session, account: Account, kind: str, target: str, codes: Codes,
                         channel: str = "sms") -> RecoveryFlow:
    """A new email or phone takes effect only after a code sent to it comes back."""
    moment = now()
    flow = RecoveryFlow(id=secrets.token_urlsafe(32), kind=kind, account_id=account.id, target=target.strip(),
                        stage="code", attempts=0, sends=0, created_at=moment, expires_at=moment + FLOW_TTL)
    session.add(flow)
    _send_contact_code(session, flow, codes, channel)
    return flow


def _send_contact_code(session: Session, flow: RecoveryFlow, codes: Codes, channel: str = "sms") -> None:
    code = _new_code()
    flow.code_digest, flow.code_expires_at, flow.sends = codes.digest(flow.id, code), now() + CODE_TTL, flow.sends + 1
    recipient = {"email": flow.target} if flow.kind == "email" else {"phone": flow.target}
    request_notification(session, outbox, channel="email" if flow.kind == "email" else channel, recipient=recipient,
                         template="verification_code", variables={"code": code, "minutes": 10},
                         expires_at=flow.code_expires_at)


def _apply_contact_change(session: Session, flow: RecoveryFlow) -> None:
    account = session.get(Account, flow.account_id)
    old_email = account.email
    if flow.kind == "email":
        account.email, account.email_verified = flow.target.lower(), True
    else:
        account.phone, account.phone_verified = flow.target, True
    if old_email:
        request_notification(session, outbox, channel="email", recipient={"email": old_email},
                             template="security_alert",
                             variables={"event": "contact_changed", "when": now().strftime("%d %b %Y %H:%M UTC")})


def load(session: Session, flow_id: str, kind: str) -> RecoveryFlow | None:
    flow = session.get(RecoveryFlow, flow_id or "", with_for_update=True)
    if flow is None or flow.kind != kind or aware(flow.expires_at) <= now():
        return None
    return flow


def resend(session: Session, flow: RecoveryFlow, codes: Codes) -> bool:
    if flow.stage != "code" or flow.sends >= MAX_SENDS:
        return False
    if flow.kind in ("email", "phone"):
        _send_contact_code(session, flow, codes)
        return True
    account = session.get(Account, flow.account_id) if flow.account_id else None
    _send_code(session, flow, account, codes, "password_reset" if flow.kind == "password" else "verification_code")
    return True


def verify_code(session: Session, flow: RecoveryFlow, code: str, codes: Codes) -> bool:
    if flow.stage != "code":
        return False
    flow.attempts += 1
    if flow.attempts > MAX_ATTEMPTS or aware(flow.code_expires_at) <= now():
        return False
    code = "".join(ch for ch in (code or "") if ch.isdigit())
    if not hmac.compare_digest(codes.digest(flow.id, code), flow.code_digest or ""):
        return False
    flow.code_digest = None  # single use
    if flow.kind in ("email", "phone"):
        _apply_contact_change(session, flow)
        flow.stage = "done"
    elif flow.kind == "user_id":
        _send_user_ids(session, flow)
        flow.stage = "done"
    else:
        flow.stage = _after_code(session, flow.account_id)
    return True


def _after_code(session: Session, account_id: str) -> str:
    if security_questions.questions_for(session, account_id):
        return "question"  # a legacy factor, asked in addition to the code
    return "second_factor" if mfa.has_second_factor(session, account_id) else "new_password"


def verify_answer(session: Session, flow: RecoveryFlow, answer: str) -> bool:
    if flow.stage != "question":
        return False
    flow.attempts += 1
    if flow.attempts > MAX_ATTEMPTS + 5:
        return False
    question = security_questions.questions_for(session, flow.account_id)[0]
    if not security_questions.check(session, flow.account_id, question, answer):
        return False
    flow.stage = "second_factor" if mfa.has_second_factor(session, flow.account_id) else "new_password"
    return True


def _send_user_ids(session: Session, flow: RecoveryFlow) -> None:
    account = session.get(Account, flow.account_id)
    siblings = session.scalars(select(Account).where(Account.email == account.email,
                                                     Account.birth_date == account.birth_date,
                                                     Account.disabled_at.is_(None))).all()
    for match in siblings:
        request_notification(session, outbox, channel="email", recipient={"email": match.email},
                             template="forgotten_user_id", variables={"username": match.username})


def verify_second_factor(session: Session, flow: RecoveryFlow, code: str, encryptor) -> bool:
    if flow.stage != "second_factor":
        return False
    flow.attempts += 1
    if flow.attempts > MAX_ATTEMPTS + 5:
        return False
    if mfa.verify_totp(session, flow.account_id, code, encryptor) or mfa.use_recovery_code(session, flow.account_id, code):
        flow.stage = "new_password"
        return True
    return False


def set_new_password(session: Session, flow: RecoveryFlow, password: str, policy: Policy,
                     ip: str | None = None) -> None:
    """The new password (under the policy); every session and token of the account dies; sign-in
    pauses are lifted for the account and for the (account, *ip*) pair the reset came from."""
    account = session.get(Account, flow.account_id)
    accounts.change_password(session, account, password, policy,
                             has_second_factor=mfa.has_second_factor(session, account.id))
    flow.stage = "done"
    sign_out_everywhere(session, account.id)
    throttle.unlock_account(session, accounts.username_key(account.username), ip)
    if account.email:
        request_notification(session, outbox, channel="email", recipient={"email": account.email},
                             template="security_alert",
                             variables={"event": "password_changed", "when": now().strftime("%d %b %Y %H:%M UTC")})


def sign_out_everywhere(session: Session, account_id: str, keep_session: str | None = None) -> None:
    """End every session (but *keep_session*) and revoke every grant of the account."""
    moment = now()
    sessions.end_all_for_account(session, account_id, keep=keep_session)
    grant_ids = select(Grant.id).where(Grant.account_id == account_id)
    session.execute(update(Grant).where(Grant.account_id == account_id, Grant.revoked_at.is_(None))
                    .values(revoked_at=moment))
    session.execute(update(RefreshToken).where(RefreshToken.grant_id.in_(grant_ids), RefreshToken.revoked_at.is_(None))
                    .values(revoked_at=moment))
    session.execute(update(AccessToken).where(AccessToken.grant_id.in_(grant_ids), AccessToken.revoked_at.is_(None))
                    .values(revoked_at=moment))
