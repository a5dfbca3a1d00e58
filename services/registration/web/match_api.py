"""``POST /Patient/$match`` (FHIR R4 Patient-match) for operators: a Patient (or a Parameters resource
with ``resource``, ``onlyCertainMatches`` and ``count``) against one practice's roster, answered with
a searchset Bundle whose entries carry ``search.score`` and the ``match-grade`` extension."""
from __future__ import annotations

import json
from datetime import date

from flask import Blueprint, Response, g, request

from services.registration.db.models import RosterEntry
from services.registration.domain import audit, enrollment as enrollments, matching, practices, roster, throttle
from services.registration.domain.roster_formats import patient_to_row
from services.registration.web.api_auth import ADMIN, MATCH, require_scope
from services.registration.web.context import db

bp = Blueprint("match_api", __name__)
FHIR_JSON = "application/fhir+json"
MATCH_GRADE = "http://hl7.org/fhir/StructureDefinition/match-grade"


def _fhir(body: dict, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype=FHIR_JSON)


def _outcome(status: int, code: str, text: str) -> Response:
    return _fhir({"resourceType": "OperationOutcome",
                  "issue": [{"severity": "error", "code": code, "diagnostics": text}]}, status)


def _parameters(body: dict) -> tuple[dict | None, bool, int, str | None]:
    if body.get("resourceType") == "Patient":
        return body, False, 10, None
    if body.get("resourceType") != "Parameters":
        return None, False, 10, None
    patient, only_certain, count, practice = None, False, 10, None
    for parameter in body.get("parameter") or []:
        if not isinstance(parameter, dict):
            continue
        name = parameter.get("name")
        if name == "resource":
            patient = parameter.get("resource")
        elif name == "onlyCertainMatches":
            only_certain = parameter.get("valueBoolean") is True
        elif name == "count" and isinstance(parameter.get("valueInteger"), int):
            count = parameter["valueInteger"]
        elif name == "practice":
            practice = parameter.get("valueString") or parameter.get("valueCode")
    return patient, only_certain, count, practice


def _person(patient: dict) -> matching.Person:
    row = patient_to_row(patient)
    born = None
    if row["birth_date"]:
        born = date.fromisoformat(str(row["birth_date"]))
    return matching.Person(given=row["given_name"], family=row["family_name"], middle=row["middle_name"],
                           birth_date=born, sex=row["sex"], zip=row["zip"], phone=row["phone"], email=row["email"],
                           address=row["address"], city=row["city"])


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
    body = request.get_json(silent=True, force=True)
    if not isinstance(body, dict):
        return _outcome(400, "invalid", "Send a FHIR Parameters or Patient resource as JSON.")
    patient, only_certain, count, named_practice = _parameters(body)
    practice_id = request.args.get("practice") or named_practice
    if not isinstance(patient, dict) or patient.get("resourceType") != "Patient":
        return _outcome(400, "required", "The 'resource' parameter must hold a Patient.")
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
    except (ValueError, TypeError):
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
