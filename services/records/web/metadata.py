"""``GET /metadata``: the CapabilityStatement (no token needed, as FHIR clients expect)."""
from __future__ import annotations

from flask import Blueprint

from services.records.web.context import require_fhir_json, services
from services.records.web.responses import fhir_response, install_outcome_handlers

bp = Blueprint("metadata", __name__)
install_outcome_handlers(bp)


@bp.get("/metadata")
def capability_statement():
    require_fhir_json()
    return fhir_response(services().capability)
