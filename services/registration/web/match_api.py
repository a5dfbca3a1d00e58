"""``POST /Patient/$match`` (FHIR R4 Patient-match) for operators: a Patient (or a Parameters resource
with ``resource``, ``onlyCertainMatches`` and ``count``) against one practice's roster, answered with
a searchset Bundle whose entries carry ``search.score`` and the ``match-grade`` extension."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import Blueprint, Response, g, request
from marshmallow import EXCLUDE, Schema, ValidationError, fields
from werkzeug.exceptions import HTTPException

from services.registration.db.models import RosterEntry
from services.registration.domain import (audit, enrollment as enrollments, fhir_patient, matching, practices, roster,
                                          throttle)
from services.registration.web.api_auth import ADMIN, MATCH, require_scope
from services.registration.web.context import db
from shared import json_text
from shared.errors import AppError

bp = Blueprint("match_api", __name__)
FHIR_JSON = "application/fhir+json"
MATCH_GRADE = "http://hl7.org/fhir/StructureDefinition/match-grade"


def _fhir(body: dict, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype=FHIR_JSON)


def _outcome(status: int, code: str, text: str) -> Response:
    return _fhir({"resourceType": "OperationOutcome",
                  "issue": [{"severity": "error", "code": code, "diagnostics": text}]}, status)


def _invalid(problems: dict[str, list[str]]) -> Response:
    """400, one issue per field: its path (FHIRPath-like) as the expression, and what is wrong."""
    return _fhir({"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "structure", "diagnostics": f"{path}: {text}", "expression": [path]}
        for path, texts in problems.items() for text in texts]}, 400)


@bp.errorhandler(AppError)
def _refused(error: AppError):
    return _outcome(error.status, "invalid" if error.status < 500 else "exception", error.description)


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    return _outcome(error.code or 400, "too-long" if error.code == 413 else "invalid",
                    error.description or "The request cannot be answered.")


class _Parameter(Schema):
    class Meta:
        unknown = EXCLUDE

    name = fields.String(required=True)
    resource = fields.Raw(allow_none=True)  # a Patient, checked by fhir_patient
    valueBoolean = fields.Boolean(truthy={True}, falsy={False})
    valueInteger = fields.Integer(strict=True)
    valueString = fields.String()
    valueCode = fields.String()


class _Parameters(Schema):
    class Meta:
        unknown = EXCLUDE

    parameter = fields.List(fields.Nested(_Parameter), load_default=list)


@dataclass
class MatchRequest:
    patient: Any = None
    patient_path: str = "parameter.resource"
    only_certain: bool = False
    count: int = 10
    practice: str | None = None


def _parameters(body: dict) -> MatchRequest:
    """The request from a Patient or a Parameters resource; ValidationError names a wrong field."""
    if body.get("resourceType") == "Patient":
        return MatchRequest(body, "Patient")
    values = _Parameters().load(body)
    found = MatchRequest()
    for index, parameter in enumerate(values["parameter"]):
        name = parameter["name"]
        if name == "resource":
            found.patient, found.patient_path = parameter.get("resource"), f"parameter[{index}].resource"
        elif name == "onlyCertainMatches":
            found.only_certain = parameter.get("valueBoolean") is True
        elif name == "count" and "valueInteger" in parameter:
            found.count = parameter["valueInteger"]
        elif name == "practice":
            found.practice = parameter.get("valueString") or parameter.get("valueCode")
    return found


def _person(patient: dict) -> matching.Person:
    row = fhir_patient.to_row(patient)
    born = None
    if row["birth_date"]:
        born = date.fromisoformat(row["birth_date"])
    return matching.Person(given=row["given_name"], family=row["family_name"], middle=row["middle_name"],
                           birth_date=born, sex=row["sex"], zip=row["zip"], phone=row["phone"], email=row["email"],
                           address=row["address"])


def _resource(entry: RosterEntry) -> dict:
    telecom = ([{"system": "phone", "value": entry.phone}] if entry.phone else []) + \
              ([{"system": "email", "value": entry.email}] if entry.email else [])
    resource = {"resourceType": "Patient", "id": entry.mrn,
                "identifier": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                                     "code": "MR"}]}, "value": entry.mrn}],
                "name": [{"use": "official", "family": entry.family_name,
                          "given": [n for n in (entry.given_name, entry.middle_name) if n]}],
                "birthDate": entry.birth_date.isoformat()}
    if entry.sex:
        resource["gender"] = entry.sex
    if entry.zip or entry.address:
        resource["address"] = [{"line": [entry.address] if entry.address else [], "city": entry.city or None,
                                "state": entry.state or None, "postalCode": entry.zip or None}]
    if telecom:
        resource["telecom"] = telecom
    return resource


@bp.post("/Patient/$match")
@require_scope(MATCH, ADMIN)
def match():
    try:
        body = json_text.loads(request.get_data(cache=True))
    except ValueError as exc:
        return _outcome(400, "invalid", f"The body is not JSON we accept: {exc}")
    if not isinstance(body, dict) or body.get("resourceType") not in ("Patient", "Parameters"):
        return _outcome(400, "invalid", "Send a FHIR Parameters or Patient resource as JSON.")
    try:
        asked = _parameters(body)
    except ValidationError as exc:
        return _invalid(fhir_patient.by_path(exc.messages))
    patient, only_certain, count = asked.patient, asked.only_certain, asked.count
    practice_id = request.args.get("practice") or asked.practice
    if not isinstance(patient, dict) or patient.get("resourceType") != "Patient":
        return _outcome(400, "required", "The 'resource' parameter must hold a Patient.")
    problems = fhir_patient.problems(patient)
    if problems:
        return _invalid({f"{asked.patient_path}.{path}" if path else asked.patient_path: texts
                         for path, texts in problems.items()})
    if not practice_id:
        return _outcome(400, "required", "Name the practice: ?practice=<id> or a 'practice' parameter.")
    practice = practices.get(db(), str(practice_id)[:64])
    if practice is None:
        return _outcome(404, "not-found", "No such practice.")
    if not 1 <= count <= 100:
        return _outcome(400, "value", "count must be between 1 and 100.")
    if not throttle.hit(db(), throttle.MATCH_PER_CLIENT, g.get("api_client_id")):
        return _outcome(429, "throttled", "Too many match requests; slow down.")
    try:
        query = _person(patient)
    except ValueError:
        return _outcome(400, "invalid", "birthDate must be a full date (YYYY-MM-DD).")
    if not (query.family or query.given) or query.birth_date is None:
        return _outcome(400, "required", "A match needs at least a name and a birthDate.")
    ranked = roster.search(db(), practice.id, query, enrollments.thresholds(practice), limit=count,
                           only_certain=only_certain)
    entries = [{"fullUrl": f"{request.host_url}Patient/{entry.mrn}", "resource": _resource(entry),
                "search": {"mode": "match", "score": round(result.score, 4),
                           "extension": [{"url": MATCH_GRADE, "valueCode": result.grade}]}}
               for entry, result in ranked]
    audit.record(db(), "match", "answered", practice_id=practice.id, actor=f"client:{g.get('api_client_id')}",
                 ip=request.remote_addr, results=len(entries))
    return _fhir({"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries})
