"""The authorization endpoint. The checks, in order:

1. the client exists and is enabled, else an error page here (never a redirect);
2. the redirect URI is registered exactly (query included), else an error page here;
3. from here on errors go back to the client: response_type is code, response_mode is query or
   form_post, no request objects, a well-formed ``claims``, then Authlib's checks (scope, PKCE
   S256, nonce replay);
4. the interaction state machine decides whether login, patient selection or consent is needed;
   with ``prompt=none`` any of them is an error for the client; otherwise the pages take over.

A repeated parameter (refused for every OAuth endpoint in oauth_requests.py, before check 1) is an
error page when it is client_id or redirect_uri, which can then not be trusted, and otherwise an
``invalid_request`` for the client (RFC 6749 §4.1.2.1).
"""
from __future__ import annotations

import re
from urllib.parse import urlencode

from authlib.oauth2.rfc6749 import OAuth2Error, OAuth2Request
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from flask import Blueprint, Response, redirect, request, url_for

from services.identity.db.models import Account, Client
from services.identity.domain import clients, interaction as flow, sessions
from services.identity.domain.claims import parse_claims_parameter
from services.identity.oauth.runtime import AuthorizationContext
from services.identity.web import responses
from services.identity.web.context import SESSION_COOKIE, db, services
from services.identity.web.oauth_requests import RepeatedParameter
from services.identity.web.pages import problem_page

bp = Blueprint("authorize", __name__)


class StoredAuthorizationRequest(OAuth2Request):
    """An authorization request rebuilt from its parameters (to finish it after the pages)."""

    def __init__(self, issuer: str, params: dict[str, str]) -> None:
        super().__init__("GET", f"{issuer}/authorize?{urlencode(params)}")
        self.payload = BasicOAuth2Payload(params)
        self._params = params

    @property
    def args(self):
        return self._params

    @property
    def form(self):
        return {}


class RedirectError(Exception):
    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code, self.description = code, description


def resolve_redirect_uri(client: Client, params: dict[str, str]) -> str | None:
    uri = params.get("redirect_uri")
    registered = client.redirect_uris or []
    if uri is None:
        return registered[0] if len(registered) == 1 else None
    return uri if uri in registered else None


def _precheck(params: dict[str, str]) -> dict | None:
    if not params.get("response_type"):
        raise RedirectError("invalid_request", "response_type is required.")
    if params["response_type"] != "code":  # (Authlib's own error would quote the value back)
        raise RedirectError("unsupported_response_type", "Only response_type=code is supported.")
    if params.get("response_mode") not in (None, *responses.RESPONSE_MODES):
        raise RedirectError("invalid_request", "response_mode must be query or form_post.")
    if "request" in params:
        raise RedirectError("request_not_supported", "Request objects are not supported.")
    if "request_uri" in params:
        raise RedirectError("request_uri_not_supported", "request_uri is not supported.")
    if "prompt" in params:
        prompts = params["prompt"].split()
        if "none" in prompts and len(prompts) > 1:
            raise RedirectError("invalid_request", "prompt=none cannot be combined with other values.")
        if not set(prompts) <= {"none", "login", "consent", "select_account"}:
            raise RedirectError("invalid_request", "Unsupported prompt value.")
    if params.get("max_age") is not None and not re.fullmatch(r"[0-9]{1,9}", params["max_age"]):
        raise RedirectError("invalid_request", "max_age must be a number of seconds.")
    try:
        return parse_claims_parameter(params.get("claims"))
    except ValueError:
        raise RedirectError("invalid_request", "The claims parameter is not valid JSON of the right shape.") from None


def _parameters() -> dict[str, str]:
    return {key: request.values.get(key) for key in request.values.keys()}


def _client_and_return(params: dict[str, str]) -> tuple[Client, str] | Response:
    """Checks 1 and 2: the client and where to send it errors, or an error page here."""
    client = clients.find(db(), params.get("client_id") or "")
    if client is None or client.disabled_at is not None:
        return problem_page("Unknown application",
                            "The application that sent you here is not registered with CareKey. "
                            "Go back and try again, or contact the practice.", 400)
    redirect_uri = resolve_redirect_uri(client, params)
    if redirect_uri is None:
        return _untrusted_return()
    return client, redirect_uri


def _untrusted_return() -> Response:
    return problem_page("This sign-in link is not valid",
                        "The application sent you here with a return address CareKey does not know, "
                        "so we cannot send you back. Contact the practice.", 400)


@bp.errorhandler(RepeatedParameter)
def _repeated(error: RepeatedParameter):
    if error.name in ("client_id", "redirect_uri"):
        return _untrusted_return()
    params = _parameters()
    found = _client_and_return(params)
    if isinstance(found, Response):
        return found
    mode = params.get("response_mode") if error.name != "response_mode" else None
    return responses.error(found[1], error.code, error.description,
                           params.get("state") if error.name != "state" else None,
                           mode if mode in responses.RESPONSE_MODES else None, services().settings.issuer)


@bp.route("/authorize", methods=["GET", "POST"])
def authorize():
    params = _parameters()
    found = _client_and_return(params)
    if isinstance(found, Response):
        return found
    client, redirect_uri = found
    issuer = services().settings.issuer
    mode, state = params.get("response_mode"), params.get("state")
    try:
        claims = _precheck(params)
        stored = StoredAuthorizationRequest(issuer, params)
        services().server.get_consent_grant(request=stored, end_user=None)
    except RedirectError as exc:
        return responses.error(redirect_uri, exc.code, exc.description, state, mode, issuer)
    except OAuth2Error as exc:
        return responses.error(redirect_uri, exc.error, exc.description, state, mode, issuer)
    sso = sessions.current(db(), request.cookies.get(SESSION_COOKIE), services().timeouts)
    remembered = sessions.remembered_patient(db(), sso, client.client_id) if sso else None
    details = flow.next_stage(db(), client, params, sso, None, claims, remembered)
    if details.stage == flow.DONE:
        return issue_code(client, params, sso, details.interaction.patient_id, claims)
    if "none" in (params.get("prompt") or "").split():
        return responses.error(redirect_uri, flow.PROMPT_NONE_ERRORS[details.stage], None, state, mode, issuer)
    pending = flow.begin(db(), client, params, services().settings.interaction_ttl)
    return redirect(url_for("interaction.show", uid=pending.id), code=303)


def issue_code(client: Client, params: dict[str, str], sso, patient_id: str | None, claims):
    """Finish an authorization request for a signed-in user: a code to the client."""
    from flask import g
    runtime_server = services().server
    issuer = services().settings.issuer
    g.authz_context = AuthorizationContext(sso=sso, patient_id=patient_id, claims=claims)
    sessions.remember_client(db(), sso, client.client_id, patient_id)
    account = db().get(Account, sso.account_id)
    stored = StoredAuthorizationRequest(issuer, params)
    redirect_uri = resolve_redirect_uri(client, params)
    if redirect_uri is None:
        return problem_page("This sign-in link is not valid", "The application's return address is no longer "
                            "registered with CareKey. Contact the practice.", 400)
    try:
        grant = runtime_server.get_consent_grant(request=stored, end_user=account)
    except OAuth2Error as exc:  # e.g. the same request finished twice (a reused nonce)
        return responses.error(redirect_uri, exc.error, exc.description, params.get("state"),
                               params.get("response_mode"), issuer)
    response = runtime_server.create_authorization_response(request=stored, grant_user=account, grant=grant)
    return responses.from_authlib(response, redirect_uri, params.get("response_mode"), issuer)


def deny(client: Client, params: dict[str, str], description: str):
    issuer = services().settings.issuer
    return responses.error(resolve_redirect_uri(client, params), "access_denied", description,
                           params.get("state"), params.get("response_mode"), issuer)
