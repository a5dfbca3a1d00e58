"""``GET /openapi.json``: the operator API described with apispec from the same marshmallow schemas
that validate requests."""
from __future__ import annotations

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, jsonify

from services.registration.web import schemas

bp = Blueprint("openapi", __name__)

_PROBLEM = {"description": "Problem details (RFC 9457)", "content": {"application/problem+json": {}}}
_QUERY = {("/api/practices/{practice_id}/roster", "post"): [
    {"in": "query", "name": "on_error", "required": False,
     "schema": {"type": "string", "enum": ["reject", "skip"], "default": "reject"},
     "description": "reject: any bad row imports nothing (422); skip: import the good rows, list the rest"}]}
_ROUTES = [
    ("/api/practices", "get", "List practices", None, "PracticeOutput", True),
    ("/api/practices/{practice_id}", "get", "Show a practice", None, "PracticeOutput", False),
    ("/api/practices/{practice_id}", "put", "Create or update a practice and its rules", "PracticeInput",
     "PracticeOutput", False),
    ("/api/practices/{practice_id}/roster", "post", "Import roster rows (JSON rows, FHIR Bundle or text/csv), "
     "upsert by MRN; all or nothing (422 listing every problem), or with on_error=skip the good rows",
     "RosterInput", "ImportOutput", False),
    ("/api/practices/{practice_id}/roster/{mrn}", "get", "Show a roster entry (contact details only as flags)",
     None, "RosterEntryOutput", False),
    ("/api/practices/{practice_id}/invitations", "post", "Send or resend an invitation email (voids older links)",
     "MrnInput", "InvitationOutput", False),
    ("/api/practices/{practice_id}/invitations/{mrn}", "get", "A patient's invitations and their status", None,
     "InvitationOutput", True),
    ("/api/practices/{practice_id}/security-codes", "post", "Issue an office security code (shown once)",
     "MrnInput", "OfficeCodeOutput", False),
    ("/api/practices/{practice_id}/proxy-codes", "post", "Issue a proxy code for a patient (shown once)",
     "ProxyCodeInput", "OfficeCodeOutput", False),
    ("/api/practices/{practice_id}/proxy-requests", "get", "Pending proxy requests", None, "ProxyRequestOutput",
     True),
    ("/api/practices/{practice_id}/proxy-requests/{request_id}/{decision}", "post",
     "Approve or decline a proxy request (decision: approve | decline)", "DecisionInput", "ProxyRequestOutput",
     False),
    ("/api/practices/{practice_id}/audit", "get", "The practice's registration audit trail", None,
     "AuditEventOutput", True),
]


def build_spec() -> dict:
    spec = APISpec(title="CareKey registration", version="1", openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin()],
                   info={"description": "Operator API. Bearer tokens from CareKey identity (client credentials) "
                                        "with scope registration:admin; $match also accepts registration:match."})
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    for name in dir(schemas):
        value = getattr(schemas, name)
        if isinstance(value, type) and name.endswith(("Input", "Output")) and name not in spec.components.schemas:
            spec.components.schema(name, schema=value)
    paths: dict[str, dict] = {}
    for path, method, summary, body, answer, many in _ROUTES:
        operation = {"summary": summary, "security": [{"bearer": []}],
                     "parameters": [{"in": "path", "name": part.strip("{}"), "required": True,
                                     "schema": {"type": "string"}}
                                    for part in path.split("/") if part.startswith("{")] + _QUERY.get((path, method), []),
                     "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": (
                         {"type": "array", "items": {"$ref": f"#/components/schemas/{answer}"}} if many
                         else {"$ref": f"#/components/schemas/{answer}"})}}},
                         "400": _PROBLEM, "401": _PROBLEM, "403": _PROBLEM, "404": _PROBLEM}}
        if body:
            operation["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{body}"}}}}
        paths.setdefault(path, {})[method] = operation
    outcome = {"description": "OperationOutcome", "content": {"application/fhir+json": {"schema": {"type": "object"}}}}
    paths["/Patient/$match"] = {"post": {
        "summary": "FHIR R4 Patient $match against one practice's roster (?practice=<id>): a Parameters or "
                   "Patient resource, or a batch Bundle of up to 100 of them (answered by a batch-response "
                   "Bundle, each entry a searchset or an OperationOutcome)",
        "security": [{"bearer": []}],
        "parameters": [{"in": "query", "name": "practice", "required": True, "schema": {"type": "string"}}],
        "requestBody": {"required": True, "content": {"application/fhir+json": {"schema": {"type": "object"}}}},
        "responses": {"200": {"description": "searchset Bundle with search.score and match-grade, or a "
                                             "batch-response Bundle",
                              "content": {"application/fhir+json": {"schema": {"type": "object"}}}},
                      "400": outcome, "404": outcome, "413": outcome,
                      "429": {**outcome, "description": "OperationOutcome: more queries than the practice's "
                                                        "match_per_minute; Retry-After says when to retry",
                              "headers": {"Retry-After": {"schema": {"type": "integer"},
                                                          "description": "seconds"}}}}}}
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


@bp.get("/openapi.json")
def document():
    return jsonify(build_spec())
