"""Proof: the office PIN, or a 6-digit code sent to the contact details on file (text, voice, email).
The same pages, choices and answers for everyone identification sent here (domain/proof.py)."""
from __future__ import annotations

from flask import redirect, request, url_for

from services.registration.domain import enrollment as enrollments, proof
from services.registration.domain.enrollment import IDENTIFY, LOCKED
from services.registration.domain.proof import EXPIRED, PHONE_CHANNELS, PROVEN, SENT, TOO_MANY_SENDS
from services.registration.domain.roster_formats import PHONE
from services.registration.web.context import answer_no_sooner_than, db, domain_context
from services.registration.web.flow import bp, current, expired_page, locked_page, protect_form
from services.registration.web.pages_common import page

SENT_MESSAGES = {"sms": "If that's the mobile number your practice has on file for you, we've texted a code to it.",
                 "voice": "If that's the phone number your practice has on file for you, we're calling it now to "
                          "read you a code.",
                 "email": "If your practice has an email address on file for you, we've emailed a code to it."}
TOO_MANY_SENDS_MESSAGE = "We've sent as many codes as we can for now. Use the last code you received, or try later."


def _guard():
    enrollment, practice = current()
    if enrollment is None:
        return None, None, expired_page()
    if enrollment.stage == "locked":
        return None, None, locked_page(practice, enrollment)
    if enrollment.stage == "identify":
        return None, None, redirect(url_for("pages.identify"), code=303)
    if enrollment.stage in ("proven", "done"):
        return None, None, redirect(url_for("pages.after_proof"), code=303)
    return enrollment, practice, None


def _prove_page(enrollment, practice, status=200, **context):
    if status == 429:
        context["retry_after"] = enrollments.seconds_left(enrollment)
    methods = proof.methods(practice)
    return page("prove.html", status, practice=practice, methods=methods,
                asks_phone=any(m in PHONE_CHANNELS for m in methods), errors=context.pop("errors", {}), **context)


@bp.route("/enroll/prove", methods=["GET", "POST"])
def prove():
    enrollment, practice, response = _guard()
    if response is not None:
        return response
    protect_form()
    if request.method == "GET":
        return _prove_page(enrollment, practice)
    method = request.form.get("method", "")
    if method not in proof.methods(practice):
        return _prove_page(enrollment, practice, 400, error="Choose one of the ways listed.")
    ctx = domain_context()
    if method == "pin":
        pin = (request.form.get("pin") or "").strip()
        if not pin:
            return _prove_page(enrollment, practice, 400, error="Enter the PIN from the office.",
                               errors={"pin": ["Enter the PIN from the office."]})
        outcome = proof.check_pin(db(), enrollment, practice, pin, ctx)
        if outcome == PROVEN:
            return redirect(url_for("pages.after_proof"), code=303)
        if outcome == LOCKED:
            return locked_page(practice, enrollment)
        return _prove_page(enrollment, practice, 400, error="That PIN didn't match. Check it and try again, or "
                           "choose another way.")
    phone = (request.form.get("phone") or "").strip()
    if method in PHONE_CHANNELS and not PHONE.match(phone):
        wanted = "Enter the phone number your practice has on file, like (555) 555-0123."
        return _prove_page(enrollment, practice, 400, error=wanted, errors={"phone": [wanted]}, phone=phone)
    answer_no_sooner_than(enrollments.STEADY_ANSWER_SECONDS)
    outcome = proof.send_code(db(), enrollment, practice, method, ctx, typed_phone=phone)
    if outcome == TOO_MANY_SENDS:
        return _prove_page(enrollment, practice, 429, error=TOO_MANY_SENDS_MESSAGE)
    return redirect(url_for("pages.code"), code=303)


@bp.post("/enroll/change")
def change_details():
    """"Change the details I entered": back to identification (the attempts so far still count)."""
    enrollment, practice, response = _guard()
    if response is not None:
        return response
    protect_form()
    outcome = enrollments.change_details(db(), enrollment)
    if outcome == LOCKED:
        return locked_page(practice, enrollment)
    return redirect(url_for("pages.identify" if outcome == IDENTIFY else "pages.prove"), code=303)


@bp.route("/enroll/code", methods=["GET", "POST"])
def code():
    enrollment, practice, response = _guard()
    if response is not None:
        return response
    protect_form()
    sent = SENT_MESSAGES.get(enrollment.code_channel or "", "")
    if request.method == "GET":
        return page("code.html", practice=practice, sent_message=sent, errors={})
    outcome = proof.check_code(db(), enrollment, practice, request.form.get("code", ""), domain_context())
    if outcome == PROVEN:
        return redirect(url_for("pages.after_proof"), code=303)
    if outcome == LOCKED:
        return locked_page(practice, enrollment)
    error = ("That code has expired. Send a new code." if outcome == EXPIRED else
             "That code isn't right. Check the latest message and try again.")
    return page("code.html", 400, practice=practice, sent_message=sent, errors={}, error=error)


@bp.post("/enroll/code/resend")
def resend():
    enrollment, practice, response = _guard()
    if response is not None:
        return response
    protect_form()
    answer_no_sooner_than(enrollments.STEADY_ANSWER_SECONDS)
    outcome = proof.resend(db(), enrollment, practice, domain_context())
    if outcome == SENT:
        return page("code.html", practice=practice, sent_message="We've sent a new code. Earlier codes no longer "
                    "work. " + SENT_MESSAGES.get(enrollment.code_channel, ""), errors={})
    if outcome == TOO_MANY_SENDS:
        return page("code.html", 429, practice=practice, sent_message="", errors={}, error=TOO_MANY_SENDS_MESSAGE,
                    retry_after=enrollments.seconds_left(enrollment))
    return redirect(url_for("pages.prove"), code=303)
