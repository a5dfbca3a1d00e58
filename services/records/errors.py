"""Records' typed errors. Each carries its HTTP status, its FHIR issue type and a safe description;
the web layer renders every one as an OperationOutcome. No Flask here: the domain raises these."""
from __future__ import annotations


class RecordsError(Exception):
    status = 500
    issue = "exception"  # FHIR IssueType
    code = "server_error"
    description = "Something went wrong on our side. Please try again in a moment."

    def __init__(self, description: str | None = None) -> None:
        super().__init__(description or self.description)
        if description:
            self.description = description

    @property
    def outcome(self) -> str:
        """How the access log names the result."""
        return self.code


class InvalidParameter(RecordsError):
    status, issue, code = 400, "invalid", "invalid_parameter"


class NotSupported(RecordsError):
    status, issue, code = 400, "not-supported", "not_supported"


class InvalidCursor(InvalidParameter):
    description = "This paging link is not valid (it may have expired). Run the search again."


class Unauthenticated(RecordsError):
    """401 with ``WWW-Authenticate: Bearer``; ``error`` is None when no token was presented."""

    status, issue, code = 401, "login", "invalid_token"
    description = "A valid access token is needed."

    def __init__(self, description: str | None = None, *, error: str | None = "invalid_token") -> None:
        super().__init__(description)
        self.error = error


class InsufficientScope(RecordsError):
    status, issue, code = 403, "forbidden", "insufficient_scope"

    def __init__(self, scope: str) -> None:
        super().__init__(f"The access token does not allow this. It needs the scope {scope}.")
        self.scope = scope


class Forbidden(RecordsError):
    status, issue, code = 403, "forbidden", "forbidden"
    description = "This account may not see these records."


class ResourceNotFound(RecordsError):
    """Not there, or not yours: the two are deliberately the same answer."""

    status, issue, code = 404, "not-found", "not_found"
    description = "There is no such resource."


class ReadOnly(RecordsError):
    status, issue, code = 405, "not-supported", "method_not_allowed"
    description = "The records gateway is read-only."


class NotAcceptable(RecordsError):
    status, issue, code = 406, "not-supported", "not_acceptable"
    description = "This server answers application/fhir+json only."


class SourceUnavailable(RecordsError):
    status, issue, code = 503, "transient", "unavailable"
    description = "The practice's records cannot be reached right now. Please try again in a moment."


class VerificationUnavailable(RecordsError):
    status, issue, code = 503, "transient", "unavailable"
    description = "Access tokens cannot be checked right now. Please try again in a moment."
