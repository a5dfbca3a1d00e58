"""``POST /Patient/$match`` (FHIR R4 Patient-match) for operators: a Patient (or a Parameters resource
with ``resource``, ``onlyCertainMatches`` and ``count``) against one practice's roster, answered with
a searchset Bundle whose entries carry ``search.score`` and the ``match-grade`` extension.

A Bundle of type ``batch`` whose entries are such Parameters (or Patients), at most 100, is
answered with a ``batch-response`` Bundle: each entry its own searchset (``200 OK``) or an
OperationOutcome in ``response.outcome`` (``400``). Every query counts against the operator client's
limit at that practice (its ``match_per_minute`` setting, 600 by default); past it the answer is 429
with ``Retry-After``, and a batch is answered or refused as a whole.
"""
from __future__ import annotations

import json

from flask import Blueprint, Response, g, request
from werkzeug.exceptions import HTTPException

from services.registration.db.models import RosterEntry
from services.registration.domain import audit, enrollment as enrollments, match_queries, practices, roster, throttle
from services.registration.domain.match_queries import Query, QueryError
from services.registration.domain.practices import PracticeView
from services.registration.web.api_auth import ADMIN, MATCH, require_scope
from services.registration.web.context import db
from shared import json_text
from shared.errors import AppError

bp = Blueprint("match_api", __name__)
FHIR_JSON = "application/fhir+json"
MATCH_GRADE = "http://hl7.org/fhir/StructureDefinition/match-grade"


def _fhir(body: dict, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status=status, mimetype=FHIR_JSON, headers=headers)


def _operation_outcome(code: str, text: str) -> dict:
    return {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code, "diagnostics": text}]}


def _outcome(status: int, code: str, text: str, headers: dict | None = None) -> Response:
    return _fhir(_operation_outcome(code, text), status, headers)


def _refusal(error: QueryError) -> dict:
    """The OperationOutcome for a query that can't be answered: one issue per field of the wrong type,
    its path (FHIRPath-like) as the expression, or one issue saying why."""
    if not error.paths:
        return _operation_outcome(error.code, error.text)
    return {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": error.code, "diagnostics": f"{path}: {text}", "expression": [path]}
        for path, texts in error.paths.items() for text in texts]}


@bp.errorhandler(AppError)
def _refused(error: AppError):
    return _outcome(error.status, "invalid" if error.status < 500 else "exception", error.description)


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    return _outcome(error.code or 400, "too-long" if error.code == 413 else "invalid",
                    error.description or "The request cannot be answered.")


def _practice(practice_id: str | None) -> PracticeView:
    if not practice_id:
        raise QueryError("required", "Name the practice: ?practice=<id> or a 'practice' parameter.")
    found = practices.get(db(), str(practice_id)[:64])
    if found is None:
        raise QueryError("not-found", "No such practice.")
    return found


def _status(error: QueryError) -> int:
    return {"not-found": 404, "too-costly": 413}.get(error.code, 400)


def _resource(entry: RosterEntry) -> dict:
    telecom = ([{"system": "phone", "value": entry.phone}] if entry.phone else []) + \
              ([{"system": "email", "value": entry.email}] if entry.email else [])
    resource = {"resourceType": "Patient", "id": entry.mrn,
                "identifier": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                                     "code": "MR"}]}, "value": entry.mrn}],
                "name": [{"use": "official", "family": entry.family_name,
                          "given": [n for n in (entry.given_name, entry.middle_name) if n]}]}
    if entry.birth_date:
        resource["birthDate"] = entry.birth_date.isoformat()
    if entry.sex:
        resource["gender"] = entry.sex
    if entry.zip or entry.address:
        resource["address"] = [{"line": [entry.address] if entry.address else [], "city": entry.city or None,
                                "state": entry.state or None, "postalCode": entry.zip or None}]
    if telecom:
        resource["telecom"] = telecom
    return resource


def _searchset(practice: PracticeView, query: Query) -> dict:
    ranked = roster.search(db(), practice.id, query.person, enrollments.thresholds(practice), limit=query.count,
                           only_certain=query.only_certain)
    entries = [{"fullUrl": f"{request.host_url}Patient/{entry.mrn}", "resource": _resource(entry),
                "search": {"mode": "match", "score": round(result.score, 4),
                           "extension": [{"url": MATCH_GRADE, "valueCode": result.grade}]}}
               for entry, result in ranked]
    return {"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries}


def _charge(practice: PracticeView, queries: int) -> Response | None:
    """Count the queries against the client's limit at this practice; the 429 answer past it."""
    limit = throttle.match_per_client(practice.settings.match_per_minute)
    charge = throttle.hit(db(), limit, f"{g.get('api_client_id')}:{practice.id}", cost=queries)
    if charge:
        return None
    return _outcome(429, "throttled", f"More than {limit.count} match queries a minute at this practice; retry "
                    f"after {charge.retry_after} s.", {"Retry-After": str(charge.retry_after)})


@bp.post("/Patient/$match")
@require_scope(MATCH, ADMIN)
def match():
    try:
        body = json_text.loads(request.get_data(cache=True))
    except ValueError as exc:
        return _outcome(400, "invalid", f"The body is not JSON we accept: {exc}")
    if not isinstance(body, dict):
        return _outcome(400, "invalid", "Send a FHIR Parameters or Patient resource, or a batch Bundle of them, "
                                        "as JSON.")
    if body.get("resourceType") == "Bundle":
        return _batch(body)
    try:
        query = match_queries.read_query(body)
        practice = _practice(request.args.get("practice") or query.practice_id)
    except QueryError as exc:
        return _fhir(_refusal(exc), _status(exc))
    refused = _charge(practice, 1)
    if refused is not None:
        return refused
    answer = _searchset(practice, query)
    audit.record(db(), "match", "answered", practice_id=practice.id, actor=f"client:{g.get('api_client_id')}",
                 ip=request.remote_addr, results=answer["total"])
    return _fhir(answer)


# -- the batch form (match_queries.MAX_BATCH queries at most) ---------------------------------------

def _batch(bundle: dict) -> Response:
    try:
        entries = match_queries.batch_entries(bundle)
        practice = _practice(request.args.get("practice"))
    except QueryError as exc:
        return _outcome(_status(exc), exc.code, exc.text)
    refused = _charge(practice, len(entries))
    if refused is not None:
        return refused
    answers = []
    for entry in entries:
        try:
            query = match_queries.read_entry(entry)
            if query.practice_id not in (None, practice.id):
                raise QueryError("business-rule", "A batch queries one practice: the one in ?practice=.")
            answers.append({"resource": _searchset(practice, query), "response": {"status": "200 OK"}})
        except QueryError as exc:
            answers.append({"response": {"status": "400 Bad Request", "outcome": _refusal(exc)}})
    audit.record(db(), "match", "answered", practice_id=practice.id, actor=f"client:{g.get('api_client_id')}",
                 ip=request.remote_addr, batch=len(entries),
                 results=sum(a.get("resource", {}).get("total", 0) for a in answers))
    return _fhir({"resourceType": "Bundle", "type": "batch-response", "entry": answers})
