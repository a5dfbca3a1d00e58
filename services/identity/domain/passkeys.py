"""Passkeys (WebAuthn, with py_webauthn): registration from the security page, and sign-in with a
discoverable credential that verifies the user, so a passkey may be the only factor."""
from __future__ import annotations

import json
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from webauthn import (generate_authentication_options, generate_registration_options, options_to_json,
                      verify_authentication_response, verify_registration_response)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse
from webauthn.helpers.structs import (AuthenticatorSelectionCriteria, PublicKeyCredentialDescriptor,
                                      ResidentKeyRequirement, UserVerificationRequirement)

from services.identity.db.models import Account, Passkey, WebAuthnChallenge
from services.identity.domain.time import aware, now

CHALLENGE_TTL = timedelta(minutes=5)


class PasskeyError(ValueError):
    """A registration or sign-in that cannot be accepted (the message is safe to show)."""


def _store_challenge(session: Session, purpose: str, challenge: bytes, account_id: str | None) -> str:
    row = WebAuthnChallenge(id=secrets.token_urlsafe(24), purpose=purpose, account_id=account_id,
                            challenge=bytes_to_base64url(challenge), expires_at=now() + CHALLENGE_TTL)
    session.add(row)
    return row.id


def _take_challenge(session: Session, challenge_id: str, purpose: str) -> WebAuthnChallenge:
    row = session.get(WebAuthnChallenge, challenge_id or "", with_for_update=True)
    if row is None or row.purpose != purpose or row.used_at is not None or aware(row.expires_at) <= now():
        raise PasskeyError("This passkey request expired. Try again.")
    row.used_at = now()
    return row


def registration_options(session: Session, account: Account, rp_id: str, rp_name: str) -> dict:
    existing = session.scalars(select(Passkey.id).where(Passkey.account_id == account.id)).all()
    options = generate_registration_options(
        rp_id=rp_id, rp_name=rp_name, user_id=account.id.encode(), user_name=account.username,
        user_display_name=" ".join(p for p in (account.given_name, account.family_name) if p) or account.username,
        authenticator_selection=AuthenticatorSelectionCriteria(resident_key=ResidentKeyRequirement.REQUIRED,
                                                               user_verification=UserVerificationRequirement.REQUIRED),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=base64url_to_bytes(c)) for c in existing])
    challenge_id = _store_challenge(session, "register", options.challenge, account.id)
    return {"challenge_id": challenge_id, "publicKey": json.loads(options_to_json(options))}


def finish_registration(session: Session, account: Account, challenge_id: str, credential: dict, *, rp_id: str,
                        origin: str, name: str) -> Passkey:
    row = _take_challenge(session, challenge_id, "register")
    if row.account_id != account.id:
        raise PasskeyError("This passkey request belongs to another sign-in.")
    try:
        verified = verify_registration_response(credential=credential, expected_challenge=base64url_to_bytes(row.challenge),
                                                expected_rp_id=rp_id, expected_origin=origin,
                                                require_user_verification=True)
    except (InvalidRegistrationResponse, ValueError, KeyError, TypeError) as exc:
        raise PasskeyError("The passkey could not be checked. Try again.") from exc
    credential_id = bytes_to_base64url(verified.credential_id)
    if session.get(Passkey, credential_id) is not None:
        raise PasskeyError("This passkey is already registered.")
    passkey = Passkey(id=credential_id, account_id=account.id, public_key=bytes_to_base64url(verified.credential_public_key),
                      sign_count=verified.sign_count, name=(name or "Passkey")[:80], created_at=now())
    session.add(passkey)
    return passkey


def authentication_options(session: Session, rp_id: str) -> dict:
    options = generate_authentication_options(rp_id=rp_id, user_verification=UserVerificationRequirement.REQUIRED)
    challenge_id = _store_challenge(session, "sign_in", options.challenge, None)
    return {"challenge_id": challenge_id, "publicKey": json.loads(options_to_json(options))}


def finish_authentication(session: Session, challenge_id: str, credential: dict, *, rp_id: str, origin: str) -> Account:
    row = _take_challenge(session, challenge_id, "sign_in")
    passkey = session.get(Passkey, str(credential.get("rawId") or credential.get("id") or ""), with_for_update=True)
    if passkey is None:
        raise PasskeyError("This passkey is not registered with CareKey.")
    try:
        verified = verify_authentication_response(
            credential=credential, expected_challenge=base64url_to_bytes(row.challenge), expected_rp_id=rp_id,
            expected_origin=origin, credential_public_key=base64url_to_bytes(passkey.public_key),
            credential_current_sign_count=passkey.sign_count, require_user_verification=True)
    except (InvalidAuthenticationResponse, ValueError, KeyError, TypeError) as exc:
        raise PasskeyError("The passkey could not be checked. Try again.") from exc
    handle = (credential.get("response") or {}).get("userHandle")
    if handle and base64url_to_bytes(handle) != passkey.account_id.encode():
        raise PasskeyError("The passkey could not be checked. Try again.")
    passkey.sign_count, passkey.last_used_at = verified.new_sign_count, now()
    account = session.get(Account, passkey.account_id)
    if account is None or account.disabled_at is not None:
        raise PasskeyError("The passkey could not be checked. Try again.")
    return account


def list_for(session: Session, account_id: str) -> list[Passkey]:
    return list(session.scalars(select(Passkey).where(Passkey.account_id == account_id).order_by(Passkey.created_at)))


def remove(session: Session, account_id: str, passkey_id: str) -> bool:
    passkey = session.get(Passkey, passkey_id)
    if passkey is None or passkey.account_id != account_id:
        return False
    session.delete(passkey)
    return True
