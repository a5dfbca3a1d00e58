"""The sign-in, patient-selection and consent pages. They only ask the state machine
(`domain/interaction.py`) what comes next and tell it what the user did."""
from __future__ import annotations

from functools import wraps

from flask import Blueprint, jsonify, redirect, request, url_for

from services.identity.db.models import Client
from services.identity.db.models import Account
from services.identity.domain import (accounts, audit, devices, interaction as flow, mfa, passkeys, phone_codes, scopes as scope_rules,
                                      sessions, signin, throttle)
from shared.errors import AppError
from services.identity.domain.claims import parse_claims_parameter
from services.identity.web import csrf
from services.identity.web.authorize import deny, issue_code
from services.identity.web.context import (SESSION_COOKIE, client_ip, counters, db, services,
                                          set_session_cookie, webauthn_relying_party)
from services.identity.web.pages import page, problem_page
from services.identity.web.schemas import PasskeyInput
from shared import json_body

bp = Blueprint("interaction", __name__, url_prefix="/interaction")

EXPIRED = ("This sign-in has expired",
           "For your security, sign-in pages expire after a few minutes. Go back to your portal and "
           "choose Sign in again.")


def _load(uid: str):
    pending = flow.load(db(), uid)
    if pending is None:
        return None, None, None
    client = db().get(Client, pending.client_id)
    if client is None or client.disabled_at is not None:
        return None, None, None
    sso = sessions.current(db(), request.cookies.get(SESSION_COOKIE), services().timeouts)
    return pending, client, sso


def _details(pending, client, sso):
    remembered = sessions.remembered_patient(db(), sso, client.client_id) if sso else None
    claims = parse_claims_parameter(pending.params.get("claims"))
    if sso is not None and pending.session_id and sso.id != pending.session_id:
        # the session changed under this interaction: every step is done again, by this user
        pending.login_done = pending.patient_done = pending.consent_done = False
        pending.patient_id = None
    return flow.next_stage(db(), client, pending.params, sso, pending, claims, remembered), claims


def step(view):
    """A page step: load the pending interaction (forms also check CSRF) or say it expired."""
    @wraps(view)
    def load_then(uid: str):
        if request.method == "POST":
            csrf.protect()
        pending, client, sso = _load(uid)
        if pending is None:
            return problem_page(*EXPIRED, status=410)
        return view(uid, pending, client, sso)
    return load_then


@bp.get("/<uid>")
@step
def show(uid: str, pending, client, sso):
    details, claims = _details(pending, client, sso)
    if details.stage == flow.DONE:
        flow.complete(pending)
        return issue_code(client, pending.params, sso, details.interaction.patient_id, claims)
    return render_stage(details)


def render_stage(details: flow.Details, error: str | None = None, status: int = 200, username: str | None = None,
                 notice: str | None = None):
    pending, client = details.interaction, details.client
    if details.stage == flow.LOGIN:
        return page("login.html", status, client=client, uid=pending.id, error=error,
                    username=username if username is not None else (details.login_hint or ""))
    if details.stage == flow.SECOND_FACTOR:
        return page("second_factor.html", status, client=client, uid=pending.id, error=error, notice=notice,
                    phone=phone_codes.available(details.account) if details.account else False)
    if details.stage == flow.SELECT_PATIENT:
        return page("select_patient.html", status, client=client, uid=pending.id, patients=details.patients,
                    account=details.account, error=error)
    return page("consent.html", status, client=client, uid=pending.id, account=details.account,
                scopes=[(s, scope_rules.describe(s)) for s in details.scopes_to_consent])


@bp.post("/<uid>/login")
@step
def login(uid: str, pending, client, sso):
    if request.form.get("action") == "cancel":
        flow.complete(pending)
        return deny(client, pending.params, "The user cancelled the sign-in.")
    username = (request.form.get("username") or "").strip()
    password = request.form.get("password") or ""
    result = signin.sign_in_with_password(db(), username, password, client_ip(), services().limits,
                                          client_id=client.client_id, counters=counters)
    if result.account is None:
        details, _ = _details(pending, client, sso)
        return render_stage(details, error=result.message, status=401 if result.refusal == "wrong" else 429,
                            username=username)
    account = result.account
    if mfa.has_second_factor(db(), account.id):
        if devices.is_remembered(db(), account.id, _device_id()):
            return _signed_in(uid, pending, client, sso, account, ["pwd", "swk", "mfa"], "urn:carekey:acr:mfa")
        flow.await_second_factor(pending, account.id)
        return redirect(url_for("interaction.show", uid=uid), code=303)
    return _signed_in(uid, pending, client, sso, account, ["pwd"], flow.DEFAULT_ACR)


def _device_id() -> str | None:
    return services().device_cookies.read(request.cookies.get(devices.COOKIE))


def _signed_in(uid, pending, client, sso, account, amr: list[str], acr: str, remember_device: bool = False):
    response = redirect(url_for("interaction.show", uid=uid), code=303)
    device_id = _device_id()
    if device_id is None:
        device_id, cookie = services().device_cookies.new()
        response.set_cookie(devices.COOKIE, cookie, max_age=365 * 86400, httponly=True, samesite="Lax",
                            secure=not services().settings.common.is_dev, path="/")
    devices.seen(db(), account, device_id, request.headers.get("User-Agent"))
    if remember_device:
        devices.remember(db(), account.id, device_id)
    if sso is not None and sso.account_id == account.id:
        sessions.reauthenticated(sso, amr=amr, acr=acr)
    else:
        if sso is not None:
            from services.identity.web.logout import end_session
            end_session(sso)
        sso, cookie = sessions.start(db(), account.id, amr=amr, acr=acr, timeouts=services().timeouts,
                                     ip=client_ip(), user_agent=request.headers.get("User-Agent"))
        set_session_cookie(response, cookie)
    flow.finish_login(pending, sso)
    audit.record(db(), "login", "succeeded", account_id=account.id, client_id=client.client_id, ip=client_ip())
    return response


@bp.post("/<uid>/second-factor")
@step
def second_factor(uid: str, pending, client, sso):
    if not pending.pending_account_id:
        return redirect(url_for("interaction.show", uid=uid), code=303)
    account = db().get(Account, pending.pending_account_id)
    if request.form.get("action") in ("sms", "voice"):
        sent = phone_codes.send(db(), account, pending.id, request.form["action"], _secret_key())
        details, _ = _details(pending, client, sso)
        return render_stage(details, notice="We sent a code to your phone." if sent else None,
                            error=None if sent else "We can't send more codes now. Use your app or a recovery code.")
    key = accounts.username_key(account.username) + "#second-factor"
    verdict = throttle.charge_attempt(db(), key, client_ip(), services().limits)
    code = (request.form.get("code") or "").strip()
    encryptor = services().encryptor
    amr = ["pwd", "otp", "mfa"]
    ok = verdict.allowed and (mfa.verify_totp(db(), account.id, code, encryptor)
                              or mfa.use_recovery_code(db(), account.id, code))
    if verdict.allowed and not ok and phone_codes.verify(db(), account.id, pending.id, code, _secret_key()):
        ok, amr = True, ["pwd", "sms", "mfa"]
    if not ok:
        if verdict.allowed:
            throttle.record_failure(db(), key, client_ip(), verdict, services().limits)
        audit.record(db(), "second_factor", "failed", account_id=account.id, client_id=client.client_id,
                     ip=client_ip())
        details, _ = _details(pending, client, sso)
        message = ("That code is not right. Check your authenticator app and try again." if verdict.allowed
                   else signin.MESSAGES["pair_locked"])
        return render_stage(details, error=message, status=401 if verdict.allowed else 429)
    throttle.record_success(db(), key, client_ip())
    return _signed_in(uid, pending, client, sso, account, amr, "urn:carekey:acr:mfa",
                      remember_device=request.form.get("remember") == "yes")


def _secret_key() -> bytes:
    return services().settings.secret_key.encode()


@bp.post("/<uid>/passkey/options")
@step
def passkey_options(uid: str, pending, client, sso):
    rp_id, _ = webauthn_relying_party()
    return jsonify(passkeys.authentication_options(db(), rp_id))


@bp.post("/<uid>/passkey")
@step
def passkey_sign_in(uid: str, pending, client, sso):
    body = json_body.load(PasskeyInput(exclude=("name",)))
    rp_id, origin = webauthn_relying_party()
    try:
        account = passkeys.finish_authentication(db(), body["challenge_id"], body["credential"],
                                                 rp_id=rp_id, origin=origin)
    except passkeys.PasskeyError as exc:
        audit.record(db(), "login", "passkey_failed", client_id=client.client_id, ip=client_ip())
        raise AppError("invalid_passkey", 400, str(exc)) from None
    response = _signed_in(uid, pending, client, sso, account, ["hwk", "user", "mfa"], "urn:carekey:acr:mfa")
    body = jsonify({"redirect": response.headers["Location"]})
    for cookie in response.headers.getlist("Set-Cookie"):
        body.headers.add("Set-Cookie", cookie)
    return body


@bp.post("/<uid>/select")
@step
def select(uid: str, pending, client, sso):
    details, _ = _details(pending, client, sso)
    if details.stage != flow.SELECT_PATIENT:
        return redirect(url_for("interaction.show", uid=uid), code=303)
    chosen = request.form.get("patient_id")
    allowed = {link.patient_id for link in details.patients}
    if allowed and chosen not in allowed:
        return render_stage(details, error="Choose one of the people listed.", status=400)
    flow.finish_patient(pending, chosen if allowed else None)
    return redirect(url_for("interaction.show", uid=uid), code=303)


@bp.post("/<uid>/consent")
@step
def consent(uid: str, pending, client, sso):
    details, _ = _details(pending, client, sso)
    if details.stage != flow.CONSENT:
        return redirect(url_for("interaction.show", uid=uid), code=303)
    if request.form.get("decision") != "allow":
        flow.complete(pending)
        audit.record(db(), "consent", "denied", account_id=details.account.id, client_id=client.client_id,
                     ip=client_ip())
        return deny(client, pending.params, "The user did not allow access.")
    flow.finish_consent(db(), pending, details.account.id, details.scopes_to_consent)
    audit.record(db(), "consent", "granted", account_id=details.account.id, client_id=client.client_id,
                 ip=client_ip(), scope=" ".join(details.scopes_to_consent))
    return redirect(url_for("interaction.show", uid=uid), code=303)
