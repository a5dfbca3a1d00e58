"""What a request needs from the app: the wired services, and the verified token's context."""
from __future__ import annotations

import logging

from flask import current_app, g, request
from werkzeug.routing import BaseConverter

from services.records.domain.context import TokenContext
from services.records.errors import NotAcceptable, Unauthenticated, VerificationUnavailable
from shared.tokens import TokenError, VerifierUnavailable

log = logging.getLogger(__name__)

_JSON_FORMATS = {"json", "application/json", "application/fhir+json", "application/json+fhir"}
_PLAINLY_JSON = {"application/fhir+json", "application/json", "*/*"}  # Accept values that need no parsing


class FhirTypeConverter(BaseConverter):
    regex = r"[A-Z][A-Za-z]{1,63}"


class FhirIdConverter(BaseConverter):
    regex = r"[A-Za-z0-9\-.]{1,64}"


def services():
    return current_app.extensions["carekey.records"]


def token_context() -> TokenContext:
    """The verified token's context (once per request); 401 ``WWW-Authenticate: Bearer`` otherwise."""
    if "records_token" in g:
        return g.records_token
    header = request.headers.get("Authorization", "")
    if not header:
        raise Unauthenticated(error=None)
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Send the access token as: Authorization: Bearer <token>.", error="invalid_request")
    try:
        claims = services().verifier.verify(token.strip())
    except TokenError as exc:
        log.info("access token refused", extra={"reason": str(exc)})
        raise Unauthenticated(exc.hint) from None
    except VerifierUnavailable:
        raise VerificationUnavailable() from None
    g.records_token = TokenContext.from_claims(claims)
    return g.records_token


def require_fhir_json() -> None:
    """``_format`` and ``Accept`` must allow FHIR JSON (XML is not served)."""
    wanted = request.args.get("_format")
    if wanted is not None and wanted not in _JSON_FORMATS:
        raise NotAcceptable()
    if request.headers.get("Accept") in _PLAINLY_JSON:
        return
    accept = request.accept_mimetypes
    if accept and not any(accept[kind] for kind in ("application/fhir+json", "application/json")):
        raise NotAcceptable()


def authenticated_fhir_request() -> None:
    """``before_request`` of the record surfaces: a valid token first (401), then FHIR JSON (406)."""
    token_context()
    require_fhir_json()


def query_pairs() -> list[tuple[str, str]]:
    return [(name, value) for name, value in request.args.items(multi=True) if name != "_format"]

