"""FHIR JSON responses, and every error as an OperationOutcome (``WWW-Authenticate`` on 401 and
on 403 insufficient_scope). Nothing unexpected shows more than a generic message."""
from __future__ import annotations

import json
import logging

from flask import Blueprint, Response, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from services.records.domain.bundles import operation_outcome
from services.records.errors import (InsufficientScope, ReadOnly, RecordsError, ResourceNotFound, SourceUnavailable,
                                     Unauthenticated)
from shared.errors import AppError
from shared.logging import get_request_id

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
REALM = "records"
_COMPACT = json.JSONEncoder(separators=(",", ":"))  # json.dumps with options builds one per call


def fhir_response(document: dict, status: int = 200) -> Response:
    response = Response(_COMPACT.encode(document), status=status,
                        content_type=f"{FHIR_JSON}; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"  # health records never sit in shared caches
    return response


def error_response(error: RecordsError) -> Response:
    text = error.description
    if get_request_id():
        text = f"{text} (reference {get_request_id()})"
    response = fhir_response(operation_outcome(error.issue, text), error.status)
    if isinstance(error, Unauthenticated):
        challenge = f'Bearer realm="{REALM}"'
        if error.error:
            challenge += f', error="{error.error}", error_description="{_quoted(error.description)}"'
        response.headers["WWW-Authenticate"] = challenge
    elif isinstance(error, InsufficientScope):
        response.headers["WWW-Authenticate"] = (f'Bearer realm="{REALM}", error="insufficient_scope", '
                                                f'scope="{error.scope}"')
    return response


def _quoted(text: str) -> str:
    return text.replace("\\", "").replace('"', "'")


_ISSUES = {404: "not-found", 405: "not-supported", 413: "too-long"}


class _HttpError(RecordsError):
    def __init__(self, error: HTTPException) -> None:
        super().__init__(error.description or "The request cannot be answered.")
        self.status = error.code or 500
        self.issue = _ISSUES.get(self.status, "invalid")


class _SharedError(RecordsError):
    """A refusal by the checks every service shares (shared/web.py: NUL characters), as records says it."""

    def __init__(self, error: AppError) -> None:
        super().__init__(error.description)
        self.status, self.code = error.status, error.code
        self.issue = _ISSUES.get(self.status, "invalid" if self.status < 500 else "exception")


def install_outcome_handlers(bp: Blueprint) -> None:
    """Render whatever goes wrong in this blueprint's views as an OperationOutcome."""

    @bp.errorhandler(RecordsError)
    def _records_error(error: RecordsError):
        if error.status >= 500:
            log.warning("records request failed", extra={"error_code": error.code, "path": request.path})
        return error_response(error)

    @bp.errorhandler(AppError)
    def _shared_error(error: AppError):
        return _records_error(_SharedError(error))

    @bp.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        return error_response(_HttpError(error))

    @bp.errorhandler(SQLAlchemyError)
    def _database_error(_error: SQLAlchemyError):
        log.exception("records database failed", extra={"path": request.path})
        return error_response(SourceUnavailable("Records cannot be read right now. Please try again in a moment."))

    @bp.errorhandler(Exception)
    def _unexpected(_error: Exception):
        log.exception("unhandled records error", extra={"path": request.path})
        return error_response(RecordsError())


def refuse_the_rest(bp: Blueprint) -> None:
    """Below ``/{type}``: anything else is not found (history, operations), and every write is 405."""

    @bp.get("/<fhir_type:resource_type>/<path:rest>")
    def elsewhere(resource_type: str, rest: str):
        raise ResourceNotFound()

    @bp.route("/<fhir_type:resource_type>", methods=["POST", "PUT", "PATCH", "DELETE"])
    @bp.route("/<fhir_type:resource_type>/<path:rest>", methods=["POST", "PUT", "PATCH", "DELETE"])
    def write(resource_type: str, rest: str | None = None):
        raise ReadOnly()
