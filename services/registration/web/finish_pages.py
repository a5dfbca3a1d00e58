"""After proof: link the record to the account the person already has (after they sign in), or create
their account (user ID, password, terms), then send them on to the practice's portal."""
from __future__ import annotations

from flask import redirect, request, session, url_for

from services.registration.db.models import RosterEntry, TermsAcceptance, outbox
from services.registration.domain import enrollment as enrollments, matching, practices, roster
from services.registration.domain.time import now
from services.registration.interfaces import IdentityError
from services.registration.web import forms
from services.registration.web.context import db, domain_context, services
from services.registration.web.flow import (ENROLLMENT, bp, current, expired_page, protect_form, require_sign_in,
                                            signed_in_account)
from services.registration.web.pages_common import message, page
from shared.messaging.notifications import request_notification

EXISTING = "existing_account"
DONE = "done"
HANDOFF = "handoff_account"


def _entry(enrollment) -> RosterEntry:
    return db().get(RosterEntry, enrollment.entry_id)


def _proven():
    enrollment, practice = current()
    if enrollment is None:
        return None, None, expired_page()
    if enrollment.stage == "done":
        return None, None, redirect(url_for("pages.done"), code=303)
    if enrollment.stage != "proven":
        return None, None, redirect(url_for("pages.prove"), code=303)
    return enrollment, practice, None


def _phone_e164(entry: RosterEntry) -> str | None:
    digits = matching.normalise_phone(entry.phone or "")
    return f"+1{digits}" if len(digits) == 10 else None


def link_and_finish(enrollment, practice, account_id: str, *, email: str | None = None, username: str | None = None):
    """Link the proven record to the account at identity, then here; tell the patient by email."""
    entry = _entry(enrollment)
    services().identity.link(account_id, practice_id=practice.id, patient_id=entry.mrn, relationship="self",
                             display_name=f"{entry.given_name} {entry.family_name}")
    enrollments.record_link(db(), enrollment, account_id, ctx=domain_context())
    if email is None:
        account = services().identity.account(account_id) or {}
        email = account.get("email")
    if email:
        request_notification(db(), outbox, channel="email", recipient={"email": email}, template="practice_linked",
                             variables={"practice_name": practice.name, **({"username": username} if username else {})})
    session[DONE] = {"practice_id": practice.id, "account_id": account_id}
    return redirect(url_for("pages.done"), code=303)


@bp.get("/enroll/next")
def after_proof():
    enrollment, practice, response = _proven()
    if response is not None:
        return response
    if enrollment.path == "connect":
        if signed_in_account() != enrollment.account_id:
            return require_sign_in(url_for("pages.after_proof"))
        return link_and_finish(enrollment, practice, enrollment.account_id)
    existing = enrollments.existing_account(db(), enrollment, practice)
    if existing:
        session[EXISTING] = existing
        return redirect(url_for("pages.existing"), code=303)
    return redirect(url_for("pages.create_account"), code=303)


def _account_page(practice, status=200, **context):
    return page("account.html", status, practice=practice, terms_version=services().settings.terms_version,
                privacy_version=services().settings.privacy_version,
                password_hint="At least 15 characters; a few unrelated words work well. Avoid passwords you use "
                              "elsewhere.", **context)


@bp.route("/enroll/account", methods=["GET", "POST"])
def create_account():
    enrollment, practice, response = _proven()
    if response is not None:
        return response
    protect_form()
    if request.method == "GET":
        email = enrollment.email or ""
        return _account_page(practice, values={"username": email, "email": email}, errors={})
    values, errors = forms.parse(forms.AccountForm(), request.form)
    if errors:
        return _account_page(practice, 400, values=values, errors=errors, error="Check the details below.")
    entry = _entry(enrollment)
    try:
        account = services().identity.create_account(
            username=values["username"], password=values["password"], email=values["email"],
            given_name=entry.given_name, family_name=entry.family_name, birth_date=entry.birth_date,
            phone=_phone_e164(entry), practice_id=practice.id)
    except IdentityError as exc:
        shown = {k: v for k, v in values.items() if k not in ("password", "confirm")}
        if exc.status == 409:
            return _account_page(practice, 400, values=shown, errors={"username": [
                "That user ID is taken. Choose another, or if it's yours, sign in below to link this practice."]},
                error="That user ID is taken.", sign_in_instead=True)
        if exc.status == 400 and exc.errors:
            field_errors = {("password" if k == "password" else "username" if k == "username" else k): v
                            for k, v in exc.errors.items()}
            return _account_page(practice, 400, values=shown, errors=field_errors, error="Check the details below.")
        raise
    db().add(TermsAcceptance(account_id=account["id"], practice_id=practice.id,
                             terms_version=services().settings.terms_version,
                             privacy_version=services().settings.privacy_version, accepted_at=now()))
    session[HANDOFF] = account["id"]
    return link_and_finish(enrollment, practice, account["id"], email=values["email"], username=values["username"])


def _questions() -> list[str]:
    try:
        return services().identity.security_questions(session[EXISTING]) if session.get(EXISTING) else []
    except IdentityError:
        return []


@bp.route("/enroll/existing", methods=["GET", "POST"])
def existing():
    """Seed 000's "Verify Identification": sign in, or answer the account's security questions where it
    still has them (the person has already proven who they are with a code or PIN for this record)."""
    enrollment, practice, response = _proven()
    if response is not None:
        return response
    protect_form()
    questions = _questions()
    if request.method == "GET":
        return page("existing.html", practice=practice, questions=questions)
    answers = {q: request.form.get(f"answer-{i}", "") for i, q in enumerate(questions)}
    if questions and services().identity.verify_security_answers(session[EXISTING], answers):
        return link_and_finish(enrollment, practice, session[EXISTING])
    return page("existing.html", 400, practice=practice, questions=questions,
                error="Those answers don't match. Try again, or sign in instead.")


def _same_person(account: dict, entry: RosterEntry, practice) -> bool:
    """The signed-in account is the proven person: same name and date of birth."""
    if not account or entry.birth_date is None or account.get("birth_date") != entry.birth_date.isoformat():
        return False
    them = matching.Person(given=account.get("given_name") or "", family=account.get("family_name") or "",
                           birth_date=entry.birth_date)
    grade = matching.compare(them, roster.person(entry), enrollments.thresholds(practice)).grade
    return grade in ("certain", "probable")


@bp.get("/enroll/existing/verify")
def existing_verify():
    enrollment, practice, response = _proven()
    if response is not None:
        return response
    account_id = signed_in_account()
    if account_id is None:
        return require_sign_in(url_for("pages.existing_verify"))
    entry = _entry(enrollment)
    if account_id != session.get(EXISTING) and not _same_person(services().identity.account(account_id), entry,
                                                                 practice):
        return message("That's a different account", "The account you signed in with belongs to someone else. "
                       "Every patient has their own account: sign out, then sign in with yours, or create one.",
                       403, practice=practice, link=f"{services().settings.identity_issuer}/logout",
                       link_text="Sign out of CareKey")
    return link_and_finish(enrollment, practice, account_id)


@bp.get("/enroll/done")
def done():
    finished = session.get(DONE)
    if not finished:
        return expired_page()
    practice = practices.get(db(), finished["practice_id"])
    try:
        reached = services().identity.links(finished["account_id"])
    except IdentityError:
        reached = []
    names = sorted({(practices.get(db(), link["practice_id"]) or practice).name for link in reached
                    if link.get("relationship") == "self"})
    return page("done.html", practice=practice, practices=names,
                lead=f"Your CareKey account now reaches your records at {practice.name}.",
                continue_url=practice.settings.portal_url or None,
                security_url=f"{services().settings.identity_issuer}/account/security")


@bp.post("/enroll/continue")
def continue_to_portal():
    protect_form()
    finished = session.get(DONE)
    if not finished:
        return expired_page()
    practice = practices.get(db(), finished["practice_id"])
    portal = practice.settings.portal_url if practice else ""
    if not portal:
        return message("You're all set", "Sign in at your practice's portal with your new user ID and password.")
    created = session.pop(HANDOFF, None)
    for key in (DONE, ENROLLMENT, EXISTING):
        session.pop(key, None)
    if created == finished["account_id"] and practice.settings.portal_client_ids:
        try:
            url = services().identity.handoff(created, client_id=practice.settings.portal_client_ids[0],
                                              return_to=portal)
            return redirect(url, code=303)
        except IdentityError:
            pass  # the portal's own sign-in still works
    return redirect(portal, code=303)
