"""Proof: the office PIN, or a 6-digit code sent to the contact details on file (text, voice, email)."""
from __future__ import annotations

from flask import redirect, request, session, url_for

from services.registration.domain import enrollment as enrollments
from services.registration.domain.enrollment import LOCKED, PROVEN, SENT, TOO_MANY_SENDS, EXPIRED
from services.registration.web.context import db, domain_context
from services.registration.web.flow import bp, current, expired_page, locked_page, protect_form
from services.registration.web.pages_common import page

SENT_MESSAGES = {"sms": "If your practice has a mobile number on file for you, we've texted a code to it.",
                 "voice": "If your practice has a phone number on file for you, we're calling it now to read you "
                          "a code.",
                 "email": "If your practice has an email address on file for you, we've emailed a code to it."}
CHANNEL = "code_channel"


def _guard():
    enrollment, practice = current()
    if enrollment is None:
        return None, None, expired_page()
    if enrollment.stage == "locked":
        return None, None, locked_page(practice)
    if enrollment.stage == "identify":
        return None, None, redirect(url_for("pages.identify"), code=303)
    if enrollment.stage in ("proven", "done"):
        return None, None, redirect(url_for("pages.after_proof"), code=303)
    return enrollment, practice, None


def _prove_page(enrollment, practice, status=200, **context):
    return page("prove.html", status, practice=practice, probable=enrollment.grade == "probable",
                methods=enrollments.proof_methods(enrollment, practice), errors=context.pop("errors", {}), **context)


@bp.route("/enroll/prove", methods=["GET", "POST"])
def prove():
    enrollment, practice, response = _guard()
    if response is not None:
        return response
    protect_form()
    if request.method == "GET":
        return _prove_page(enrollment, practice)
    method = request.form.get("method", "")
    if method not in enrollments.proof_methods(enrollment, practice):
        return _prove_page(enrollment, practice, 400, error="Choose one of the ways listed.")
    ctx = domain_context()
    if method == "pin":
        pin = (request.form.get("pin") or "").strip()
        if not pin:
            return _prove_page(enrollment, practice, 400, error="Enter the PIN from the office.",
                               errors={"pin": ["Enter the PIN from the office."]})
        outcome = enrollments.check_pin(db(), enrollment, practice, pin, ctx)
        if outcome == PROVEN:
            return redirect(url_for("pages.after_proof"), code=303)
        if outcome == LOCKED:
            return locked_page(practice)
        return _prove_page(enrollment, practice, 400, error="That PIN didn't match. Check it and try again, or "
                           "choose another way.")
    phone = request.form.get("phone", "")
    if enrollment.grade == "probable" and not phone.strip():
        return _prove_page(enrollment, practice, 400, error="Enter your phone number.",
                           errors={"phone": ["Enter the phone number your practice has on file."]})
    outcome = enrollments.send_code(db(), enrollment, practice, method, ctx, typed_phone=phone)
    if outcome == TOO_MANY_SENDS:
        return _prove_page(enrollment, practice, 429, error="We've sent as many codes as we can for now. Use the "
                           "last code you received, or try again later.")
    session[CHANNEL] = method
    return redirect(url_for("pages.code"), code=303)


@bp.route("/enroll/code", methods=["GET", "POST"])
def code():
    enrollment, practice, response = _guard()
    if response is not None:
        return response
    protect_form()
    sent = SENT_MESSAGES.get(session.get(CHANNEL, ""), SENT_MESSAGES["sms"])
    if request.method == "GET":
        return page("code.html", practice=practice, sent_message=sent, errors={})
    outcome = enrollments.check_code(db(), enrollment, practice, request.form.get("code", ""), domain_context())
    if outcome == PROVEN:
        return redirect(url_for("pages.after_proof"), code=303)
    if outcome == LOCKED:
        return locked_page(practice)
    error = ("That code has expired. Send a new code." if outcome == EXPIRED else
             "That code isn't right. Check the latest message and try again.")
    return page("code.html", 400, practice=practice, sent_message=sent, errors={}, error=error)


@bp.post("/enroll/code/resend")
def resend():
    enrollment, practice, response = _guard()
    if response is not None:
        return response
    protect_form()
    if enrollment.grade == "probable":
        return redirect(url_for("pages.prove"), code=303)  # the phone number is typed again
    channel = session.get(CHANNEL) or "sms"
    outcome = enrollments.send_code(db(), enrollment, practice, channel, domain_context())
    if outcome == SENT:
        return page("code.html", practice=practice, sent_message="We've sent a new code. Earlier codes no longer "
                    "work. " + SENT_MESSAGES.get(channel, ""), errors={})
    if outcome == TOO_MANY_SENDS:
        return page("code.html", 429, practice=practice, sent_message="", errors={},
                    error="We've sent as many codes as we can for now. Use the last code you received.")
    return redirect(url_for("pages.prove"), code=303)
