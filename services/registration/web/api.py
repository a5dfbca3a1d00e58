"""The operator API (``registration:admin``): practices, rosters, invitations, office codes, proxy
requests and the audit trail. JSON in, JSON out, problem details on error."""
from __future__ import annotations

from flask import Blueprint, jsonify, request
from sqlalchemy import func, select

from services.registration.db.models import AccountLink, Invitation, ProxyRequest, RosterEntry
from services.registration.domain import (audit, invitations, office_codes, practices, proxies, roster,
                                          roster_formats)
from services.registration.domain.practices import PracticeError, PracticeSettings
from services.registration.domain.time import now
from services.registration.interfaces import IdentityError
from services.registration.web import schemas
from services.registration.web.api_auth import ADMIN, actor, require_scope
from services.registration.web.context import client_ip, db, services
from shared import json_body
from shared.errors import AppError, InvalidRequest, NotFound

bp = Blueprint("api", __name__, url_prefix="/api")


def _practice(practice_id: str):
    found = practices.get(db(), practice_id) if len(practice_id) <= 64 else None
    if found is None:
        raise NotFound("No such practice.")
    return found


def _entry(practice_id: str, mrn: str) -> RosterEntry:
    entry = roster.by_mrn(db(), practice_id, mrn)
    if entry is None:
        raise NotFound("No patient with that MRN on this practice's roster.")
    return entry


def _describe_practice(view) -> dict:
    return schemas.PracticeOutput().dump({"id": view.id, "name": view.name, "settings": view.settings.as_dict()})


@bp.get("/practices")
@require_scope(ADMIN)
def list_practices():
    return jsonify([_describe_practice(p) for p in practices.all_practices(db())])


@bp.get("/practices/<practice_id>")
@require_scope(ADMIN)
def show_practice(practice_id: str):
    return jsonify(_describe_practice(_practice(practice_id)))


@bp.put("/practices/<practice_id>")
@require_scope(ADMIN)
def put_practice(practice_id: str):
    values = json_body.load(schemas.PracticeInput())
    try:
        view = practices.save(db(), practice_id, name=values["name"],
                              settings=PracticeSettings.from_dict(values["settings"]))
    except PracticeError as exc:
        raise InvalidRequest(str(exc)) from None
    audit.record(db(), "practice", "saved", practice_id=view.id, actor=actor(), ip=client_ip())
    return jsonify(_describe_practice(view))


@bp.post("/practices/<practice_id>/roster")
@require_scope(ADMIN)
def import_roster(practice_id: str):
    """JSON ``{"rows": [...]}``, a FHIR R4 Bundle of Patients, or ``text/csv``. All or nothing, unless
    ``?on_error=skip``: then the good rows are imported and the rejected ones listed in the answer."""
    practice = _practice(practice_id)
    on_error = request.args.get("on_error", "reject")
    if on_error not in ("reject", "skip"):
        raise InvalidRequest("on_error is reject (the default: any bad row imports nothing) or skip.")
    try:
        if request.mimetype in ("text/csv", "application/csv"):
            rows = roster_formats.parse_csv(request.get_data(as_text=True))
        elif isinstance(request.get_json(silent=True), dict) and request.get_json().get("resourceType") == "Bundle":
            rows = roster_formats.parse_fhir_bundle(request.get_data(as_text=True))
        else:
            rows = roster_formats.json_rows(json_body.load(schemas.RosterInput())["rows"])
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    try:
        result = roster.import_rows(db(), practice.id, rows, pepper=services().settings.secret_key,
                                    skip_invalid=on_error == "skip")
    except roster.RosterRejected as exc:
        db().rollback()
        raise AppError("invalid_rows", 422, f"{exc} Fix them, or send ?on_error=skip to import the good rows.",
                       {"problems": [p.as_dict() for p in exc.problems]}) from None
    audit.record(db(), "roster", "imported", practice_id=practice.id, actor=actor(), ip=client_ip(),
                 created=result.created, updated=result.updated, rejected=len(result.rejected))
    return jsonify(schemas.ImportOutput().dump(result)), 200


@bp.get("/practices/<practice_id>/roster/<mrn>")
@require_scope(ADMIN)
def show_entry(practice_id: str, mrn: str):
    entry = _entry(_practice(practice_id).id, mrn)
    linked = db().scalar(select(func.count()).select_from(AccountLink).where(AccountLink.entry_id == entry.id))
    return jsonify(schemas.RosterEntryOutput().dump({
        **{k: getattr(entry, k) for k in ("mrn", "given_name", "middle_name", "family_name", "birth_date", "sex",
                                          "zip")},
        "has_email": bool(entry.email), "has_phone": bool(entry.phone), "has_pin": bool(entry.pin_digest),
        "linked_accounts": linked}))


@bp.post("/practices/<practice_id>/invitations")
@require_scope(ADMIN)
def invite(practice_id: str):
    """Send (or resend: earlier links stop working) the invitation email for a roster entry."""
    practice = _practice(practice_id)
    entry = _entry(practice.id, json_body.load(schemas.MrnInput())["mrn"])
    try:
        sent = invitations.invite(db(), practice, entry, public_url=services().settings.public_url,
                                  pepper=services().settings.secret_key)
    except invitations.InvitationError as exc:
        raise AppError("cannot_invite", 409, str(exc)) from None
    audit.record(db(), "invitation", "sent", practice_id=practice.id, entry_id=entry.id, actor=actor(), ip=client_ip())
    return jsonify(invitations.describe(sent.invitation)), 201


@bp.get("/practices/<practice_id>/invitations/<mrn>")
@require_scope(ADMIN)
def invitation_status(practice_id: str, mrn: str):
    entry = _entry(_practice(practice_id).id, mrn)
    rows = db().scalars(select(Invitation).where(Invitation.entry_id == entry.id)
                        .order_by(Invitation.created_at.desc())).all()
    return jsonify([invitations.describe(row) for row in rows])


def _issue(practice_id: str, kind: str):
    practice = _practice(practice_id)
    values = json_body.load(schemas.ProxyCodeInput() if kind == "proxy" else schemas.MrnInput())
    entry = _entry(practice.id, values["mrn"])
    row, code = office_codes.issue(db(), practice, entry, kind, pepper=services().settings.secret_key,
                                   relationship=values.get("relationship"))
    row.patient_agreed = bool(values.get("patient_agreed"))
    audit.record(db(), f"{kind}_code", "issued", practice_id=practice.id, entry_id=entry.id, actor=actor(),
                 ip=client_ip(), relationship=values.get("relationship"))
    return jsonify(schemas.OfficeCodeOutput().dump({"id": row.id, "code": code, "expires_at": row.expires_at})), 201


@bp.post("/practices/<practice_id>/security-codes")
@require_scope(ADMIN)
def security_code(practice_id: str):
    return _issue(practice_id, "security")


@bp.post("/practices/<practice_id>/proxy-codes")
@require_scope(ADMIN)
def proxy_code(practice_id: str):
    return _issue(practice_id, "proxy")


@bp.get("/practices/<practice_id>/proxy-requests")
@require_scope(ADMIN)
def proxy_requests(practice_id: str):
    practice = _practice(practice_id)
    return jsonify([proxies.describe_request(r, db().get(RosterEntry, r.entry_id) if r.entry_id else None)
                    for r in proxies.pending(db(), practice.id)])


@bp.post("/practices/<practice_id>/proxy-requests/<request_id>/<decision>")
@require_scope(ADMIN)
def decide_proxy_request(practice_id: str, request_id: str, decision: str):
    practice = _practice(practice_id)
    found = db().get(ProxyRequest, request_id) if len(request_id) <= 36 else None
    if found is None or found.practice_id != practice.id or decision not in ("approve", "decline"):
        raise NotFound("No such proxy request.")
    if found.status != "pending":
        raise AppError("conflict", 409, f"This request was already {found.status}.")
    values = json_body.load(schemas.DecisionInput()) if request.get_data() else {"patient_agreed": False}
    if decision == "decline" or found.entry_id is None:
        found.status = "declined"
    else:
        entry = db().get(RosterEntry, found.entry_id)
        verdict = proxies.decide(practice.settings.proxy, entry.birth_date, patient_agreed=values["patient_agreed"])
        if not verdict.allowed:
            raise AppError("not_allowed", 409, verdict.reason)
        try:
            proxies.grant(db(), services().identity, practice, found.account_id,
                          proxies.Grant(entry, verdict, found.relationship), actor=actor(), ip=client_ip())
        except IdentityError:
            raise AppError("unavailable", 503, "Identity could not be reached; nothing was changed.") from None
        found.status = "approved"
    found.decided_at = now()
    audit.record(db(), "proxy_request", found.status, practice_id=practice.id, entry_id=found.entry_id,
                 account_id=found.account_id, actor=actor(), ip=client_ip())
    return jsonify(proxies.describe_request(found, db().get(RosterEntry, found.entry_id) if found.entry_id else None))


@bp.get("/practices/<practice_id>/audit")
@require_scope(ADMIN)
def audit_trail(practice_id: str):
    practice = _practice(practice_id)
    limit = min(max(request.args.get("limit", 100, type=int) or 100, 1), 1000)
    return jsonify([audit.describe(e) for e in audit.events(db(), practice.id, limit=limit,
                                                            action=request.args.get("action"))])
