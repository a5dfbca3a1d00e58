"""The access log as FHIR: each access becomes an AuditEvent the patient can read. Pure."""
from __future__ import annotations

import base64
from datetime import datetime

from services.records.interfaces import AccessRecord

SUBJECT_SYSTEM = "https://carekey.example/subject"
CLIENT_SYSTEM = "https://carekey.example/client"
_REST = {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest",
         "display": "RESTful Operation"}
_INTERACTIONS = {"read": "read", "search": "search-type"}
_ACTIONS = {"read": "R", "search": "E"}
_SOURCE_TYPE = {"system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4",
                "display": "Application Server"}
_APPLICATION = {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110150", "display": "Application"}
_PATIENT_ROLE = {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1", "display": "Patient"}
_DOMAIN_ROLE = {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "4",
                "display": "Domain Resource"}
_QUERY_ROLE = {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "24", "display": "Query"}


def outcome_code(status: int) -> str:
    """AuditEvent.outcome: 0 success, 4 minor failure (refused, not found), 8 serious failure."""
    if status < 400:
        return "0"
    return "4" if status < 500 else "8"


def audit_event(event_id: str, recorded_at: datetime, record: AccessRecord) -> dict:
    who = "The patient" if record.relationship == "self" else "Someone acting for the patient" \
        if record.relationship == "proxy" else "An app"
    agents = [
        {"type": {"text": record.relationship or "unknown"},
         "who": {"identifier": {"system": SUBJECT_SYSTEM, "value": record.subject}, "display": who},
         "requestor": True},
        {"type": {"coding": [_APPLICATION]},
         "who": {"identifier": {"system": CLIENT_SYSTEM, "value": record.client_id},
                 "display": f"App {record.client_id}"},
         "requestor": False},
    ]
    entities = [{"what": {"reference": f"Patient/{record.patient_id}"}, "role": _PATIENT_ROLE}]
    entities += [{"what": {"reference": f"{record.resource_type}/{rid}"}, "role": _DOMAIN_ROLE}
                 for rid in record.resource_ids if record.resource_type and record.resource_type != "Patient"]
    if record.query is not None:
        entities.append({"role": _QUERY_ROLE, "description": f"{record.resource_type}?{record.query}",
                         "query": base64.b64encode(record.query.encode()).decode()})
    event = {
        "resourceType": "AuditEvent", "id": event_id,
        "type": _REST,
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction",
                     "code": _INTERACTIONS.get(record.action, "read")}],
        "action": _ACTIONS.get(record.action, "R"),
        "recorded": recorded_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "outcome": outcome_code(record.status),
        "agent": agents,
        "source": {"site": record.practice_id, "observer": {"display": "CareKey records gateway"},
                   "type": [_SOURCE_TYPE]},
        "entity": entities,
    }
    if record.status >= 400:
        event["outcomeDesc"] = record.outcome
    return event
