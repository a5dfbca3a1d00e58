"""Internal API for registration: create accounts and link them to practice patients.
Guarded by a client-credentials token with ``identity:accounts``."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from services.identity.db.models import Account
from services.identity.domain import accounts, audit
from services.identity.web.api_auth import require_scope
from services.identity.web.context import client_ip, db, services
from services.identity.web.schemas import AccountInput, HandoffInput, LinkInput
from shared import json_body
from shared.errors import AppError, InvalidRequest, NotFound

bp = Blueprint("internal_api", __name__, url_prefix="/internal")
SCOPE = "identity:accounts"


@bp.post("/accounts")
@require_scope(SCOPE)
def create_account():
    values = json_body.load(AccountInput())
    if not values["username"].strip():
        raise InvalidRequest("The request has invalid fields.", errors={"username": ["Must not be blank."]})
    policy = services().settings.password_policy(values.pop("practice_id"))
    try:
        account = accounts.create_account(db(), policy=policy, **values)
    except accounts.PasswordRejected as exc:
        raise InvalidRequest("The password does not meet the policy.", errors={"password": exc.problems}) from None
    except accounts.AccountError as exc:
        raise AppError("conflict", 409, str(exc)) from None
    audit.record(db(), "account", "created", account_id=account.id, ip=client_ip())
    return jsonify(accounts.describe_account(account)), 201


@bp.post("/accounts/<account_id>/links")
@require_scope(SCOPE)
def link(account_id: str):
    values = json_body.load(LinkInput())
    account = db().get(Account, account_id)
    if account is None:
        raise NotFound("No such account.")
    link_ = accounts.link_patient(db(), account, **values)
    audit.record(db(), "account", "linked", account_id=account.id, ip=client_ip(),
                 practice_id=values["practice_id"], relationship=values["relationship"])
    return jsonify(accounts.describe_link(link_)), 201


@bp.get("/accounts/<account_id>/links")
@require_scope(SCOPE)
def links(account_id: str):
    account = db().get(Account, account_id)
    if account is None:
        raise NotFound("No such account.")
    from services.identity.db.models import PatientLink
    from sqlalchemy import select
    rows = db().scalars(select(PatientLink).where(PatientLink.account_id == account.id,
                                                  PatientLink.revoked_at.is_(None))).all()
    return jsonify([accounts.describe_link(row) for row in rows])


@bp.get("/accounts/<account_id>")
@require_scope(SCOPE)
def account(account_id: str):
    found = db().get(Account, account_id)
    if found is None:
        raise NotFound("No such account.")
    described = accounts.describe_account(found)
    described["birth_date"] = found.birth_date.isoformat() if found.birth_date else None
    return jsonify(described)


@bp.post("/handoffs")
@require_scope(SCOPE)
def handoff():
    """A one-time sign-in link for an account that registration has just created or verified."""
    from services.identity.db.models import Client
    from services.identity.domain import handoffs
    values = json_body.load(HandoffInput())
    found = db().get(Account, values["account_id"])
    client = db().get(Client, values["client_id"])
    if found is None or client is None:
        raise NotFound("No such account or client.")
    try:
        token = handoffs.create(db(), found, client, values["return_to"])
    except handoffs.HandoffError as exc:
        raise InvalidRequest(str(exc)) from None
    audit.record(db(), "account", "handoff_created", account_id=found.id, ip=client_ip(), client_id=client.client_id)
    return jsonify({"url": f"{services().settings.issuer}/handoff?token={token}"}), 201


@bp.get("/accounts/<account_id>/security-questions")
@require_scope(SCOPE)
def security_question_list(account_id: str):
    """The questions an account still has (never the answers), for seed 000's "Verify Identification"."""
    from services.identity.domain import security_questions
    if db().get(Account, account_id) is None:
        raise NotFound("No such account.")
    return jsonify({"questions": security_questions.questions_for(db(), account_id)})


@bp.post("/accounts/<account_id>/security-questions/verify")
@require_scope(SCOPE)
def security_question_check(account_id: str):
    """All of the account's questions answered right, at most 5 tries an hour per account."""
    from datetime import timedelta
    from services.identity.domain import security_questions, throttle
    body = request.get_json(silent=True)
    answers = body.get("answers") if isinstance(body, dict) else None
    if not isinstance(answers, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in answers.items()):
        raise InvalidRequest("Send {\"answers\": {question: answer, ...}}.")
    if db().get(Account, account_id) is None:
        raise NotFound("No such account.")
    if not throttle.charge_limited(db(), throttle.hashed_key("sq", account_id), 5, timedelta(hours=1)):
        audit.record(db(), "account", "security_questions_throttled", account_id=account_id, ip=client_ip())
        return jsonify({"verified": False, "throttled": True})
    questions = security_questions.questions_for(db(), account_id)
    results = [security_questions.check(db(), account_id, q, answers.get(q, "")) for q in questions]
    verified = bool(questions) and all(results)
    audit.record(db(), "account", "security_questions_verified" if verified else "security_questions_failed",
                 account_id=account_id, ip=client_ip())
    return jsonify({"verified": verified})
