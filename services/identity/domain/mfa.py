"""Second factors: an authenticator app (TOTP, RFC 6238) with one-time recovery codes.

The TOTP secret is encrypted at rest (AES-GCM with the key-encryption key, bound to the account);
each code works once (the last used time step is remembered); recovery codes are shown once and
kept as SHA-256 digests.
"""
from __future__ import annotations

import io
import secrets
from dataclasses import dataclass

import pyotp
import segno
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from services.identity.db.models import Account, RecoveryCode, TotpFactor
from services.identity.domain import secrets as digests
from services.identity.domain.keys import KeyEncryptor
from services.identity.domain.time import now

ISSUER_NAME = "CareKey"
RECOVERY_CODES = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no look-alikes


@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str
    qr_svg: str


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=6, interval=30)


def has_second_factor(session: Session, account_id: str) -> bool:
    """An authenticator app, or (the restricted fallback) codes to a verified phone."""
    factor = session.get(TotpFactor, account_id)
    if factor is not None and factor.confirmed_at is not None:
        return True
    account = session.get(Account, account_id)
    return bool(account and account.sms_factor and account.phone_verified and account.phone)


def begin_totp(session: Session, account: Account, encryptor: KeyEncryptor) -> Enrolment:
    """A new secret waiting for its first code; replaces an unconfirmed one."""
    secret = pyotp.random_base32()
    factor = session.get(TotpFactor, account.id)
    if factor is not None and factor.confirmed_at is not None:
        raise ValueError("An authenticator app is already set up.")
    if factor is None:
        factor = TotpFactor(account_id=account.id, created_at=now(), last_used_step=0)
        session.add(factor)
    factor.secret_encrypted = encryptor.encrypt(secret.encode(), account.id)
    factor.created_at, factor.confirmed_at = now(), None
    uri = _totp(secret).provisioning_uri(name=account.username, issuer_name=ISSUER_NAME)
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="svg", scale=5, title="QR code for your authenticator app")
    return Enrolment(secret, uri, buffer.getvalue().decode())


def _verify(factor: TotpFactor, code: str, encryptor: KeyEncryptor) -> bool:
    code = "".join(ch for ch in (code or "") if ch in "0123456789")
    if len(code) != 6:
        return False
    totp = _totp(encryptor.decrypt(factor.secret_encrypted, factor.account_id).decode())
    for offset in (0, -1, 1):  # one step of clock drift either way
        step = totp.timecode(now()) + offset
        if step > factor.last_used_step and secrets.compare_digest(totp.generate_otp(step), code):
            factor.last_used_step = step
            return True
    return False


def confirm_totp(session: Session, account_id: str, code: str, encryptor: KeyEncryptor) -> list[str] | None:
    """The first code proves the app is set up; returns new recovery codes (shown once)."""
    factor = session.get(TotpFactor, account_id, with_for_update=True)
    if factor is None or factor.confirmed_at is not None or not _verify(factor, code, encryptor):
        return None
    factor.confirmed_at = now()
    return new_recovery_codes(session, account_id)


def verify_totp(session: Session, account_id: str, code: str, encryptor: KeyEncryptor) -> bool:
    factor = session.get(TotpFactor, account_id, with_for_update=True)
    return factor is not None and factor.confirmed_at is not None and _verify(factor, code, encryptor)


def new_recovery_codes(session: Session, account_id: str) -> list[str]:
    session.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account_id))
    codes = ["-".join("".join(secrets.choice(_ALPHABET) for _ in range(5)) for _ in range(2))
             for _ in range(RECOVERY_CODES)]
    for code in codes:
        session.add(RecoveryCode(digest=digests.digest(code), account_id=account_id, created_at=now()))
    return codes


def use_recovery_code(session: Session, account_id: str, code: str) -> bool:
    normalised = (code or "").strip().lower().replace(" ", "")
    row = session.scalar(select(RecoveryCode).where(RecoveryCode.digest == digests.digest(normalised),
                                                    RecoveryCode.account_id == account_id,
                                                    RecoveryCode.used_at.is_(None)).with_for_update())
    if row is None:
        return False
    row.used_at = now()
    return True


def remove_totp(session: Session, account_id: str) -> None:
    session.execute(delete(TotpFactor).where(TotpFactor.account_id == account_id))
    session.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account_id))
