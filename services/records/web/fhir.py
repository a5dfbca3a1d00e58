"""The patient's records at the token's practice: ``GET /{type}`` (search) and
``GET /{type}/{id}`` (read), including ``/AuditEvent`` (who read the patient's records)."""
from __future__ import annotations

from flask import Blueprint

from services.records.domain.bundles import tag_practice
from services.records.web.context import authenticated_fhir_request, query_pairs, services, token_context
from services.records.web.responses import fhir_response, install_outcome_handlers, refuse_the_rest
from services.records.web.searchset import searchset_response

bp = Blueprint("fhir", __name__)
install_outcome_handlers(bp)
bp.before_request(authenticated_fhir_request)


@bp.get("/<fhir_type:resource_type>")
def search(resource_type: str):
    page = services().gateway.search(token_context(), resource_type, query_pairs())
    return searchset_response(page, everywhere=False)


@bp.get("/<fhir_type:resource_type>/<fhir_id:resource_id>")
def read(resource_type: str, resource_id: str):
    entry = services().gateway.read(token_context(), resource_type, resource_id)
    return fhir_response(tag_practice(entry.resource, entry.practice))


refuse_the_rest(bp)
