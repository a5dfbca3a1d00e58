"""Forgotten password and forgotten user ID pages. Every answer is the same whether or not the
address or account exists."""
from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, redirect, request, url_for

from services.identity.domain import audit, recovery, throttle
from services.identity.domain.accounts import PasswordRejected
from services.identity.domain.password_policy import strength_hint
from services.identity.web import csrf
from services.identity.web.context import client_ip, db, services
from services.identity.web.pages import page, problem_page

bp = Blueprint("recovery", __name__, url_prefix="/recover")
EXPIRED = ("This recovery link has expired", "For your security it works for 30 minutes. Start again.")


def _owner(flow) -> bool:
    from services.identity.domain import sessions
    from services.identity.web.context import SESSION_COOKIE
    sso = sessions.current(db(), request.cookies.get(SESSION_COOKIE), services().timeouts)
    return sso is not None and sso.account_id == flow.account_id


RECOVERIES_PER_ADDRESS, RECOVERIES_PER_IP, RECOVERY_WINDOW = 5, 30, timedelta(hours=1)


def _within_limits(kind: str, identifier: str) -> bool:
    """No flooding a patient with codes (or a phone with texts): per address and per IP, hourly."""
    per_address = throttle.charge_limited(db(), throttle.hashed_key("r", kind, identifier.strip().casefold()),
                                          RECOVERIES_PER_ADDRESS, RECOVERY_WINDOW)
    per_ip = throttle.charge_limited(db(), throttle.hashed_key("ri", client_ip() or "-"), RECOVERIES_PER_IP,
                                     RECOVERY_WINDOW)
    return per_address and per_ip


def _codes() -> recovery.Codes:
    return recovery.Codes(services().settings.secret_key.encode())


def _code_page(flow, error=None, status=200, notice=None):
    return page("recover_code.html", status, flow=flow, error=error, notice=notice,
                action=url_for("recovery.code", kind=flow.kind, flow_id=flow.id))


@bp.route("/password", methods=["GET", "POST"])
def password():
    if request.method == "GET":
        return page("recover_start.html", kind="password", error=None)
    csrf.protect()
    identifier = (request.form.get("identifier") or "").strip()
    if not identifier:
        return page("recover_start.html", 400, kind="password", error="Enter your user ID or email.")
    if _within_limits("password", identifier):
        flow = recovery.start_password(db(), identifier, _codes(), channel=request.form.get("channel", "email"))
    else:  # the same answer, and nothing is sent
        flow = recovery.start(db(), "password", None, _codes())
    audit.record(db(), "recovery", "password_started", account_id=flow.account_id, ip=client_ip())
    return redirect(url_for("recovery.code", kind="password", flow_id=flow.id), code=303)


@bp.route("/user-id", methods=["GET", "POST"])
def user_id():
    if request.method == "GET":
        return page("recover_start.html", kind="user_id", error=None, email="")
    csrf.protect()
    email = (request.form.get("email") or "").strip()
    if "birth_date" not in request.form:  # step 1: the email; step 2: the date of birth
        if "@" not in email:
            return page("recover_start.html", 400, kind="user_id", error="Enter the email on your account.", email=email)
        return page("recover_birth_date.html", email=email, error=None)
    try:
        born = date.fromisoformat(request.form.get("birth_date") or "")
    except ValueError:
        return page("recover_birth_date.html", 400, email=email, error="Enter your date of birth.")
    if _within_limits("user_id", email):
        flow = recovery.start_user_id(db(), email, born, _codes())
    else:
        flow = recovery.start(db(), "user_id", None, _codes())
    audit.record(db(), "recovery", "user_id_started", account_id=flow.account_id, ip=client_ip())
    return redirect(url_for("recovery.code", kind="user_id", flow_id=flow.id), code=303)


@bp.route("/<kind>/<flow_id>", methods=["GET", "POST"])
def code(kind: str, flow_id: str):
    flow = recovery.load(db(), flow_id, kind.replace("-", "_"))
    if flow is not None and flow.kind in ("email", "phone") and not _owner(flow):
        flow = None  # a contact change belongs to the signed-in account only
    if flow is None:
        return problem_page(*EXPIRED, status=410)
    if request.method == "GET":
        return _next_page(flow)
    csrf.protect()
    if request.form.get("action") == "resend":
        sent = recovery.resend(db(), flow, _codes())
        return _code_page(flow, notice="We sent a new code." if sent else None,
                          error=None if sent else "You have asked for the most codes we can send. Start again later.")
    if flow.stage == "code":
        if not recovery.verify_code(db(), flow, request.form.get("code") or "", _codes()):
            audit.record(db(), "recovery", "wrong_code", account_id=flow.account_id, ip=client_ip())
            return _code_page(flow, "That code is not right or has expired. Check the latest message, or ask for a "
                                    "new code.", 400)
    elif flow.stage == "question":
        if not recovery.verify_answer(db(), flow, request.form.get("answer") or ""):
            return _question_page(flow, "That answer does not match.", 400)
    elif flow.stage == "second_factor":
        if not recovery.verify_second_factor(db(), flow, request.form.get("code") or "", services().encryptor):
            return page("recover_second_factor.html", 400, flow=flow, error="That code is not right.")
    elif flow.stage == "new_password":
        chosen, again = request.form.get("password") or "", request.form.get("confirm") or ""
        if chosen != again:
            return page("recover_new_password.html", 400, flow=flow, error="The two passwords are different.")
        from services.identity.db.models import Account
        account = db().get(Account, flow.account_id)
        try:
            recovery.set_new_password(db(), flow, chosen, services().settings.password_policy(), ip=client_ip())
        except PasswordRejected as exc:
            return page("recover_new_password.html", 400, flow=flow, error=" ".join(exc.problems),
                        hint=strength_hint(chosen))
        audit.record(db(), "recovery", "password_changed", account_id=account.id, ip=client_ip())
    return redirect(url_for("recovery.code", kind=kind, flow_id=flow.id), code=303)


def _question_page(flow, error=None, status=200):
    from services.identity.domain import security_questions
    question = security_questions.questions_for(db(), flow.account_id)[0]
    return page("recover_question.html", status, flow=flow, question=question, error=error)


def _next_page(flow):
    if flow.stage == "code":
        return _code_page(flow)
    if flow.stage == "question":
        return _question_page(flow)
    if flow.stage == "second_factor":
        return page("recover_second_factor.html", flow=flow, error=None)
    if flow.stage == "new_password":
        return page("recover_new_password.html", flow=flow, error=None)
    if flow.kind in ("email", "phone"):
        return page("message.html", title="Your contact details are updated",
                    message=f"Your new {'email' if flow.kind == 'email' else 'phone number'} is confirmed.")
    if flow.kind == "user_id":
        return page("message.html", title="Check your email",
                    message="We emailed your user ID. Then sign in from your portal.")
    return page("message.html", title="Your password is changed",
                message="You are signed out everywhere. Sign in again from your portal with your new password.")
