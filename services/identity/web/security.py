"""The patient's security settings: set up or remove an authenticator app, recovery codes."""
from __future__ import annotations

from functools import wraps

from flask import Blueprint, jsonify, redirect, request, url_for

from services.identity.db.models import Account, outbox
from services.identity.domain import (accounts, audit, devices, mfa, passkeys, recovery, security_questions,
                                      sessions, signin, throttle)
from services.identity.domain.time import now
from services.identity.web import csrf
from services.identity.web.context import SESSION_COOKIE, client_ip, db, services, webauthn_relying_party
import re

from shared.errors import AppError, InvalidRequest
from shared.messaging.notifications import E164
from services.identity.web.pages import page
from services.identity.web.schemas import PasskeyInput
from shared import json_body
from shared.messaging.notifications import request_notification

bp = Blueprint("security", __name__, url_prefix="/account/security")


def _account() -> Account | None:
    sso = sessions.current(db(), request.cookies.get(SESSION_COOKIE), services().timeouts)
    return db().get(Account, sso.account_id) if sso else None


def _password_confirmed(account: Account, field: str = "password") -> bool | None:
    """Check the current password, under the same brute-force limits as sign-in.
    True when right, False when wrong, None when too many tries (the caller says so)."""
    key = accounts.username_key(account.username) + "#reauth"
    verdict = throttle.charge_attempt(db(), key, client_ip(), services().limits)
    if not verdict.allowed:
        return None
    if accounts.authenticate_password(db(), account.username, request.form.get(field) or "").ok:
        throttle.record_success(db(), key, client_ip())
        return True
    throttle.record_failure(db(), key, client_ip(), verdict, services().limits)
    return False


def signed_in_form(view):
    """A form post from the signed-in patient: CSRF checked, the account handed to the view."""
    @wraps(view)
    def guarded(*args, **kwargs):
        csrf.protect()
        account = _account()
        if account is None:
            return redirect(url_for("account.overview"), code=303)
        return view(account, *args, **kwargs)
    return guarded


def _security_page(account: Account, status: int = 200, **messages):
    return page("security.html", status, account=account, enrolled=mfa.has_second_factor(db(), account.id),
                passkeys=passkeys.list_for(db(), account.id), devices=devices.list_for(db(), account.id),
                activity=audit.recent_sign_ins(db(), account.id), now=now(),
                questions=security_questions.QUESTIONS, **messages)


def _tell(account: Account) -> None:
    if account.email:
        request_notification(db(), outbox, channel="email", recipient={"email": account.email},
                             template="security_alert",
                             variables={"event": "second_factor_changed", "when": now().strftime("%d %b %Y %H:%M UTC")})


@bp.get("/")
def overview():
    account = _account()
    if account is None:
        return redirect(url_for("account.overview"), code=303)
    return _security_page(account)


@bp.post("/password")
def change_password():
    csrf.protect()
    sso = sessions.current(db(), request.cookies.get(SESSION_COOKIE), services().timeouts)
    account = db().get(Account, sso.account_id) if sso else None
    if account is None:
        return redirect(url_for("account.overview"), code=303)
    chosen = request.form.get("password") or ""

    def again(error, status):
        return _security_page(account, status, password_error=error)

    confirmed = _password_confirmed(account, "current")
    if not confirmed:
        return again("Your current password is not right." if confirmed is False else signin.MESSAGES["pair_locked"],
                     401 if confirmed is False else 429)
    if chosen != (request.form.get("confirm") or ""):
        return again("The two new passwords are different.", 400)
    try:
        accounts.change_password(db(), account, chosen, services().settings.password_policy(),
                                 has_second_factor=mfa.has_second_factor(db(), account.id))
    except accounts.PasswordRejected as exc:
        return again(" ".join(exc.problems), 400)
    recovery.sign_out_everywhere(db(), account.id, keep_session=sso.id)
    audit.record(db(), "password", "changed", account_id=account.id, ip=client_ip())
    if account.email:
        request_notification(db(), outbox, channel="email", recipient={"email": account.email},
                             template="security_alert",
                             variables={"event": "password_changed", "when": now().strftime("%d %b %Y %H:%M UTC")})
    return redirect(url_for("security.overview"), code=303)


@bp.post("/contact")
@signed_in_form
def change_contact(account):
    """A new email or phone: effective only after the code sent to it comes back."""
    email, phone = (request.form.get("email") or "").strip(), (request.form.get("phone") or "").strip()
    codes = recovery.Codes(services().settings.secret_key.encode())
    if email and "@" in email:
        flow = recovery.start_contact_change(db(), account, "email", email, codes)
    elif phone and re.fullmatch(E164, phone):
        flow = recovery.start_contact_change(db(), account, "phone", phone, codes,
                                             channel="voice" if request.form.get("channel") == "voice" else "sms")
    else:
        raise InvalidRequest("Enter an email address, or a phone number like +15555550123.")
    audit.record(db(), "contact", "change_started", account_id=account.id, ip=client_ip(), kind=flow.kind)
    return redirect(url_for("recovery.code", kind=flow.kind, flow_id=flow.id), code=303)


@bp.post("/phone-factor")
@signed_in_form
def phone_factor(account):
    if request.form.get("enabled") == "yes" and not account.phone_verified:
        raise InvalidRequest("Confirm a phone number first.")
    if request.form.get("enabled") != "yes" and not _password_confirmed(account):
        raise AppError("reauthentication_required", 401, "Enter your current password to stop using phone codes.")
    account.sms_factor = request.form.get("enabled") == "yes"
    audit.record(db(), "second_factor", "enrolled" if account.sms_factor else "removed", account_id=account.id,
                 ip=client_ip(), kind="phone")
    _tell(account)
    return redirect(url_for("security.overview"), code=303)


@bp.post("/questions")
@signed_in_form
def set_question(account):
    try:
        security_questions.set_answer(db(), account.id, request.form.get("question") or "",
                                      request.form.get("answer") or "")
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    audit.record(db(), "security_question", "set", account_id=account.id, ip=client_ip())
    return redirect(url_for("security.overview"), code=303)


@bp.post("/devices/<device_key>/forget")
def forget_device(device_key: str):
    csrf.protect()
    account = _account()
    if account is not None:
        devices.forget(db(), account.id, device_key)
    return redirect(url_for("security.overview"), code=303)


@bp.post("/totp")
@signed_in_form
def begin_totp(account):
    try:
        enrolment = mfa.begin_totp(db(), account, services().encryptor)
    except ValueError as exc:
        return _security_page(account, 409, error=str(exc))
    return page("totp_setup.html", enrolment=enrolment, error=None)


@bp.post("/totp/confirm")
@signed_in_form
def confirm_totp(account):
    codes = mfa.confirm_totp(db(), account.id, request.form.get("code") or "", services().encryptor)
    if codes is None:
        enrolment = mfa.begin_totp(db(), account, services().encryptor)
        return page("totp_setup.html", 400, enrolment=enrolment,
                    error="That code is not right. We made a new QR code: scan it and try again.")
    audit.record(db(), "second_factor", "enrolled", account_id=account.id, ip=client_ip(), kind="totp")
    _tell(account)
    return page("recovery_codes.html", codes=codes)


@bp.post("/passkeys/options")
def passkey_options():
    csrf.protect()
    account = _account()
    if account is None:
        raise AppError("login_required", 401, "Sign in first.")
    rp_id, _ = webauthn_relying_party()
    return jsonify(passkeys.registration_options(db(), account, rp_id, "CareKey"))


@bp.post("/passkeys")
def add_passkey():
    csrf.protect()
    account = _account()
    if account is None:
        raise AppError("login_required", 401, "Sign in first.")
    body = json_body.load(PasskeyInput())
    rp_id, origin = webauthn_relying_party()
    try:
        passkey = passkeys.finish_registration(db(), account, body["challenge_id"], body["credential"],
                                               rp_id=rp_id, origin=origin, name=body["name"] or "Passkey")
    except passkeys.PasskeyError as exc:
        raise AppError("invalid_passkey", 400, str(exc)) from None
    audit.record(db(), "second_factor", "enrolled", account_id=account.id, ip=client_ip(), kind="passkey")
    _tell(account)
    return jsonify({"id": passkey.id, "name": passkey.name}), 201


@bp.post("/passkeys/<passkey_id>/remove")
@signed_in_form
def remove_passkey(account, passkey_id: str):
    if passkeys.remove(db(), account.id, passkey_id):
        audit.record(db(), "second_factor", "removed", account_id=account.id, ip=client_ip(), kind="passkey")
        _tell(account)
    return redirect(url_for("security.overview"), code=303)


@bp.post("/totp/remove")
@signed_in_form
def remove_totp(account):
    if not _password_confirmed(account):
        return _security_page(account, 401, error="Enter your current password to remove the authenticator app.")
    mfa.remove_totp(db(), account.id)
    audit.record(db(), "second_factor", "removed", account_id=account.id, ip=client_ip(), kind="totp")
    _tell(account)
    return redirect(url_for("security.overview"), code=303)
