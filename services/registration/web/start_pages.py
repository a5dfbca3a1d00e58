"""Ways in: the practice's start page, self sign-up, an invitation link or activation code, an office
security code, and connecting an account someone already has. Each ends in identification."""
from __future__ import annotations

from flask import redirect, request, session, url_for

from services.registration.domain import (audit, enrollment as enrollments, invitations, matching, office_codes,
                                          proof, throttle)
from services.registration.domain.enrollment import LOCKED
from services.registration.web import forms
from services.registration.web.context import answer_no_sooner_than, client_ip, db, domain_context, services
from services.registration.web.flow import (ENROLLMENT, bp, begin, current, expired_page, locked_page,
                                            practice_or_404, protect_form, require_sign_in, signed_in_account)
from services.registration.web.pages_common import message, page

NO_MATCH_MESSAGE = ("We couldn't confirm your identity with those details. Check that they're exactly as your "
                    "practice has them (the name on your insurance card, your zip code on file) and try again. "
                    "If it still doesn't work, contact your practice.")  # for an office code's details only
BAD_CODE_MESSAGE = ("That code didn't work. Check it and try again. Codes work once and expire; if yours has, "
                    "ask your practice to send a new one.")
TERMS = ["CareKey lets you see the health information your practices share with you and sign in to their portals "
         "with one account.", "Keep your password to yourself. You are responsible for what is done with your "
         "account. Tell your practice at once if you think someone else has used it.",
         "A parent, guardian or other representative may act for a patient only as the practice allows."]
PRIVACY = ["We keep your account details (user ID, contact details, sign-in history) to run CareKey and keep "
           "it secure. Your health records stay with your practices; CareKey passes them to you when you ask.",
           "We never sell your information. Every look at your records is logged and you can see that log."]


def _person(values: dict) -> matching.Person:
    return matching.Person(given=values["given_name"], family=values["family_name"],
                           birth_date=values["birth_date"], zip=values.get("zip", ""),
                           email=values.get("email", ""))


def _identify(practice, enrollment, values):
    """Identification, then the proof page for everyone: whether anyone was found never shows here,
    not even in the time it takes."""
    answer_no_sooner_than(enrollments.STEADY_ANSWER_SECONDS)
    if enrollments.identify(db(), enrollment, practice, _person(values), domain_context()) == LOCKED:
        return locked_page(practice, enrollment)
    if enrollment.path == "signup":
        enrollment.email = values.get("email")
    return redirect(url_for("pages.prove"), code=303)


@bp.get("/practices/<practice_id>/")
def start(practice_id: str):
    return page("start.html", practice=practice_or_404(practice_id))


@bp.route("/practices/<practice_id>/signup", methods=["GET", "POST"])
def signup(practice_id: str):
    practice = practice_or_404(practice_id)
    if "signup" not in practice.settings.paths:
        return message("Ask your practice for an invitation", f"{practice.name} registers patients by invitation. "
                       "Ask the office to send you one.", 404, practice=practice)
    protect_form()
    if request.method == "GET":
        return page("identify.html", practice=practice, values={}, errors={}, ask_email=True)
    values, errors = forms.parse(forms.SignupForm(), request.form)
    if errors:
        return page("identify.html", 400, practice=practice, values=values, errors=errors, ask_email=True,
                    error="Check the details below.")
    enrollment, _ = current()
    if enrollment is None or enrollment.practice_id != practice.id or enrollment.path != "signup" \
            or enrollment.stage != "identify":
        enrollment = begin(practice, "signup")
    return _identify(practice, enrollment, values)


@bp.get("/invite/<token>")
def invitation_link(token: str):
    invitation = invitations.by_token(db(), token)
    if invitation is None:
        return message("This invitation link can't be used", "It may have expired, been replaced by a newer "
                       "invitation, or been used already. Ask your practice to resend your invitation.", 410)
    practice = practice_or_404(invitation.practice_id)
    begin(practice, "invitation", invitation_id=invitation.id, entry_id=invitation.entry_id)
    audit.record(db(), "invitation", "opened", practice_id=practice.id, entry_id=invitation.entry_id,
                 ip=client_ip(), via="link")
    return redirect(url_for("pages.identify"), code=303)


@bp.route("/practices/<practice_id>/invitation", methods=["GET", "POST"])
def invitation_code(practice_id: str):
    practice = practice_or_404(practice_id)
    protect_form()
    form = dict(title="Enter your activation code", label="Activation code",
                lead="It's in the invitation email from your practice, e.g. K7QM-4XPD-2RWE. You can also just "
                     "select the Register button in that email.",
                help="Lost your invitation or it expired? Ask your practice to resend it.")
    if request.method == "GET":
        return page("code_entry.html", practice=practice, errors={}, **form)
    code = request.form.get("code", "")
    allowed = throttle.hit(db(), throttle.CODE_ENTRY_PER_IP, client_ip())
    invitation = invitations.by_code(db(), practice.id, code, pepper=services().settings.secret_key) if allowed else None
    if invitation is None:
        audit.record(db(), "activation_code", "wrong" if allowed else "throttled", practice_id=practice.id,
                     ip=client_ip())
        return page("code_entry.html", 400, practice=practice, errors={}, error=BAD_CODE_MESSAGE, **form)
    begin(practice, "invitation", invitation_id=invitation.id, entry_id=invitation.entry_id)
    audit.record(db(), "invitation", "opened", practice_id=practice.id, entry_id=invitation.entry_id,
                 ip=client_ip(), via="activation_code")
    return redirect(url_for("pages.identify"), code=303)


@bp.route("/enroll/identify", methods=["GET", "POST"])
def identify():
    enrollment, practice = current()
    if enrollment is None:
        return expired_page()
    if enrollment.stage == "locked":
        return locked_page(practice, enrollment)
    if enrollment.stage != "identify":
        return redirect(url_for("pages.prove"), code=303)
    protect_form()
    if request.method == "GET":
        return page("identify.html", practice=practice, values={}, errors={})
    values, errors = forms.parse(forms.IdentifyForm(), request.form)
    if errors:
        return page("identify.html", 400, practice=practice, values=values, errors=errors,
                    error="Check the details below.")
    return _identify(practice, enrollment, values)


@bp.route("/practices/<practice_id>/security-code", methods=["GET", "POST"])
def security_code(practice_id: str):
    """Seed 002: register with the security code the office handed over, plus your name and birth date."""
    practice = practice_or_404(practice_id)
    if "security_code" not in practice.settings.paths:
        return message("Not available here", f"{practice.name} doesn't use office security codes.", 404,
                       practice=practice)
    protect_form()
    context = dict(practice=practice, ask_code="Security code from the office")
    if request.method == "GET":
        return page("identify.html", values={}, errors={}, **context)
    values, errors = forms.parse(forms.SecurityCodeForm(), request.form)
    if errors:
        return page("identify.html", 400, values=values, errors=errors, error="Check the details below.", **context)
    ctx = domain_context()
    allowed = throttle.hit(db(), throttle.CODE_ENTRY_PER_IP, ctx.ip)
    code = office_codes.find(db(), practice.id, "security", values["code"], pepper=ctx.pepper) if allowed else None
    enrollment = begin(practice, "security_code", entry_id=code.entry_id if code else None)
    if code is not None:  # the code is the secret here: its holder may learn whether the details fit its record
        enrollments.identify(db(), enrollment, practice, _person(values), ctx)
        if enrollments.is_candidate(enrollment) and office_codes.consume(db(), code):
            proof.prove_with_office_code(db(), enrollment, code.entry_id, ctx)
            return redirect(url_for("pages.after_proof"), code=303)
    session.pop(ENROLLMENT, None)  # one try: the form starts again
    audit.record(db(), "security_code", "wrong", practice_id=practice.id, ip=ctx.ip)
    return page("identify.html", 400, values=values, errors={}, error=BAD_CODE_MESSAGE + " " + NO_MATCH_MESSAGE,
                **context)


@bp.get("/practices/<practice_id>/connect")
def connect(practice_id: str):
    """Someone with a CareKey account adds this practice: sign in (SSO makes it silent), then identify."""
    practice = practice_or_404(practice_id)
    account_id = signed_in_account()
    if account_id is None:
        return require_sign_in(url_for("pages.connect", practice_id=practice.id))
    begin(practice, "connect", account_id=account_id)
    return redirect(url_for("pages.identify"), code=303)


@bp.get("/terms")
def terms():
    return page("legal.html", title="Terms of Use", version=services().settings.terms_version, paragraphs=TERMS)


@bp.get("/privacy")
def privacy():
    return page("legal.html", title="Privacy Notice", version=services().settings.privacy_version,
                paragraphs=PRIVACY)
