"""The patient's records at the token's practice: ``GET /{type}`` (search) and
``GET /{type}/{id}`` (read), including ``/AuditEvent`` (who read the patient's records)."""
from __future__ import annotations

from flask import Blueprint

from services.records.domain.bundles import tag_practice
from services.records.errors import RecordsError, ResourceNotFound
from services.records.web.context import query_pairs, require_fhir_json, services, token_context
from services.records.web.responses import fhir_response, install_outcome_handlers
from services.records.web.searchset import searchset_response

bp = Blueprint("fhir", __name__)
install_outcome_handlers(bp)
WRITES = ["POST", "PUT", "PATCH", "DELETE"]


class ReadOnly(RecordsError):
    status, issue, code = 405, "not-supported", "method_not_allowed"
    description = "The records gateway is read-only."


@bp.before_request
def _authenticate() -> None:
    token_context()
    require_fhir_json()


@bp.get("/<fhir_type:resource_type>")
def search(resource_type: str):
    page = services().gateway.search(token_context(), resource_type, query_pairs())
    return searchset_response(page, everywhere=False)


@bp.get("/<fhir_type:resource_type>/<fhir_id:resource_id>")
def read(resource_type: str, resource_id: str):
    entry = services().gateway.read(token_context(), resource_type, resource_id)
    return fhir_response(tag_practice(entry.resource, entry.practice))


@bp.get("/<fhir_type:resource_type>/<path:rest>")
def elsewhere(resource_type: str, rest: str):
    raise ResourceNotFound()  # history, operations, compartments: not served


@bp.route("/<fhir_type:resource_type>", methods=WRITES)
@bp.route("/<fhir_type:resource_type>/<path:rest>", methods=WRITES)
def write(resource_type: str, rest: str | None = None):
    raise ReadOnly()
