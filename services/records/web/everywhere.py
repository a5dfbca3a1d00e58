"""The cross-practice view: ``GET /all/{type}`` searches every practice in the token's links —
the account's own records everywhere, and those it holds as a proxy where the practice's rules
allow — merged into one searchset, each resource tagged with its practice. (Reads by id stay at
``/{type}/{id}``, for the token's own practice.)"""
from __future__ import annotations

from flask import Blueprint

from services.records.web.context import authenticated_fhir_request, query_pairs, services, token_context
from services.records.web.responses import install_outcome_handlers, refuse_the_rest
from services.records.web.searchset import searchset_response

bp = Blueprint("everywhere", __name__, url_prefix="/all")
install_outcome_handlers(bp)
bp.before_request(authenticated_fhir_request)


@bp.get("/<fhir_type:resource_type>")
def search(resource_type: str):
    page = services().gateway.search(token_context(), resource_type, query_pairs(), everywhere=True)
    return searchset_response(page, everywhere=True)


refuse_the_rest(bp)
