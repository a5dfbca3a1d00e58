"""RP-initiated logout and back-channel logout: signing out of one portal signs out of all.

Checks, in order: a known client (from ``id_token_hint`` or ``client_id``), a post-logout redirect
URI registered exactly for it (else no redirect, a page here), then either a hint that matches the
signed-in session (sign out at once) or a confirmation form (so no page can log a user out).
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor, wait
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from flask import Blueprint, redirect, request

from services.identity.db.models import Client, SsoSession
from services.identity.domain import audit, clients, sessions
from services.identity.domain.claims import subject
from services.identity.oauth.grants import grants_of_session
from services.identity.oauth.tokens import revoke_grant
from services.identity.web import csrf
from services.identity.web.context import SESSION_COOKIE, clear_session_cookie, client_ip, db, services
from services.identity.web.oauth_requests import RepeatedParameter
from services.identity.web.pages import page, problem_page

log = logging.getLogger(__name__)
bp = Blueprint("logout", __name__)
_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="backchannel")
BACKCHANNEL_TIMEOUT = 3.0


def end_session(sso: SsoSession) -> None:
    """End an SSO session: session-bound grants die, every portal it touched is told."""
    signed_in_to = sessions.end(db(), sso)
    for grant in grants_of_session(db(), sso.id):
        if "offline_access" not in grant.scope.split():
            revoke_grant(db(), grant.id)
    audit.record(db(), "logout", "succeeded", account_id=sso.account_id, ip=client_ip(), sid=sso.id)
    notify_backchannel(signed_in_to, sso)


def notify_backchannel(signed_in_to: list[Client], sso: SsoSession) -> None:
    tokens = services().server.tokens
    jobs = [(client, tokens.logout_token(client, sso.account_id, sso.id))
            for client in signed_in_to if client.backchannel_logout_uri and client.disabled_at is None]
    futures = [_POOL.submit(_post_logout_token, client.backchannel_logout_uri, token, client.client_id)
               for client, token in jobs]
    wait(futures, timeout=BACKCHANNEL_TIMEOUT + 1)


def _post_logout_token(uri: str, token: str, client_id: str) -> None:
    try:
        response = requests.post(uri, data={"logout_token": token}, timeout=BACKCHANNEL_TIMEOUT,
                                 allow_redirects=False)
        if response.status_code >= 300:
            log.warning("back-channel logout refused", extra={"client_id": client_id, "status": response.status_code})
    except requests.RequestException as exc:
        log.warning("back-channel logout failed", extra={"client_id": client_id, "error": type(exc).__name__})


def _with_state(uri: str, state: str | None) -> str:
    if not state:
        return uri
    parts = urlsplit(uri)
    return urlunsplit(parts._replace(query=urlencode(parse_qsl(parts.query) + [("state", state)])))


@bp.errorhandler(RepeatedParameter)
def _repeated(error: RepeatedParameter):
    return problem_page("We could not sign you out from here", error.description, 400)


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    values = request.values
    hint = values.get("id_token_hint")
    claims = services().server.tokens.decode_id_token_hint(hint) if hint else None
    if hint and claims is None:
        return problem_page("We could not sign you out from here",
                            "The application sent an invalid sign-out request. Close the browser to end "
                            "your session, or sign out from your CareKey account page.", 400)
    client_id = values.get("client_id") or (claims or {}).get("azp") or (claims or {}).get("aud")
    if isinstance(client_id, list):
        client_id = client_id[0] if len(client_id) == 1 else None
    if claims and values.get("client_id") and values.get("client_id") not in (
            [claims.get("aud")] if isinstance(claims.get("aud"), str) else claims.get("aud") or []):
        return problem_page("We could not sign you out from here", "The sign-out request does not match.", 400)
    client = clients.find(db(), client_id) if client_id else None
    target = values.get("post_logout_redirect_uri")
    if target and (client is None or target not in (client.post_logout_redirect_uris or [])):
        return problem_page("We could not send you back",
                            "The application asked to return you to an address CareKey does not know.", 400)
    destination = _with_state(target, values.get("state")) if target else None
    sso = sessions.current(db(), request.cookies.get(SESSION_COOKIE), services().timeouts, touch=False)
    confirmed = request.method == "POST" and values.get("confirm") == "yes"
    if confirmed:
        csrf.protect()
    matches = sso is not None and claims is not None and client is not None and (
        claims.get("sid") == sso.id
        or claims.get("sub") == subject(sso.account_id, client, services().settings.pairwise_salt))
    if sso is not None and not (matches or confirmed):
        return page("logout_confirm.html", client=client, id_token_hint=hint, client_id=client_id,
                    post_logout_redirect_uri=target, state=values.get("state"))
    if sso is not None:
        end_session(sso)
    response = redirect(destination, code=303) if destination else page("message.html", title="You are signed out",
                                                                          message="You have signed out of CareKey "
                                                                          "and the portals you used.")
    clear_session_cookie(response)
    return response
