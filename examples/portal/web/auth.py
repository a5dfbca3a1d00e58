"""Signing in and out with CareKey.

* ``GET /login`` starts the authorization code flow (PKCE S256, state, nonce). It is also the
  portal's third-party-initiated login URI (OpenID Connect Core 4): ``iss`` must be CareKey's
  issuer, ``login_hint`` is passed on, ``target_link_uri`` may only name a page of this portal.
* ``GET /callback`` checks ``iss`` (RFC 9207), exchanges the code, validates the ID token and keeps
  the tokens in a server-side session keyed by CareKey's ``sid``.
* ``POST /switch`` asks CareKey again with ``prompt=select_account``: whose records to show.
* ``POST /logout`` ends the portal's session and sends the browser to CareKey's end-session
  endpoint (RP-initiated logout), which signs the patient out of every portal.
* ``POST /backchannel-logout`` receives CareKey's logout tokens (Back-Channel Logout 1.0) and
  ends the sessions they name, so signing out of another portal signs the patient out here too.
"""
from __future__ import annotations

import logging
import time

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client import MismatchingStateError
from flask import Blueprint, Response, jsonify, redirect, request, session, url_for
from joserfc.errors import JoseError

from examples.portal import csrf
from examples.portal.oidc import LogoutTokenError
from examples.portal.web import context
from examples.portal.web.context import portal
from examples.portal.web.errors import PortalError

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__)

NEXT_KEY = "after_sign_in"
CANCELLED = {"access_denied"}


@bp.get("/login")
def login():
    settings = portal().settings
    issuer = request.args.get("iss")
    if issuer is not None and issuer != settings.issuer:
        raise PortalError("We can't sign you in from there",
                          "That sign-in link came from an address this portal does not use. Open the portal and "
                          "choose Sign in.", 400)
    target = request.args.get("target_link_uri") or request.args.get("next")
    if target is not None:
        path = context.local_path(target)
        if path is None:
            raise PortalError("We can't sign you in from there",
                              "That sign-in link points outside this portal. Open the portal and choose Sign in.", 400)
        session[NEXT_KEY] = path
    params = {}
    hint = request.args.get("login_hint", "")
    if hint and len(hint) <= 254 and hint.isprintable():
        params["login_hint"] = hint
    return _authorize(**params)


@bp.post("/switch")
def switch():
    csrf.protect()
    if context.current() is None:
        return redirect(url_for("pages.home"), code=303)
    session[NEXT_KEY] = url_for("pages.dashboard")
    return _authorize(prompt="select_account")


def _authorize(**params: str):
    try:
        return portal().carekey.authorize_redirect(**params)
    except requests.RequestException:
        raise _identity_unreachable() from None


@bp.get("/callback")
def callback():
    carekey = portal().carekey
    error = request.args.get("error")
    try:
        if not carekey.check_response_issuer(request.args.get("iss")):
            log.warning("authorization response from an unexpected issuer")
            raise PortalError("We couldn't sign you in", "The sign-in answer did not come from CareKey. "
                              "Please sign in again.", 400)
        if error in CANCELLED:
            _drop_state()
            return redirect(url_for("pages.home", notice="cancelled"), code=303)
        if error:
            _drop_state()
            log.info("sign-in refused by CareKey: %s", error[:64])
            raise PortalError("We couldn't sign you in", "CareKey could not complete the sign-in. Please try again.",
                              400)
        token = carekey.finish_sign_in()
    except MismatchingStateError:
        raise PortalError("Please sign in again", "This sign-in took too long or was started in another tab. "
                          "Go back to the portal and choose Sign in.", 400) from None
    except (AuthlibBaseError, JoseError) as exc:
        log.warning("code exchange or ID token refused: %s", type(exc).__name__)
        raise PortalError("We couldn't sign you in", "CareKey could not complete the sign-in. Please try again.",
                          400) from None
    except requests.RequestException:
        raise _identity_unreachable() from None
    claims = dict(token.get("userinfo") or {})
    try:
        profile = carekey.profile(token)
    except (requests.RequestException, AuthlibBaseError, ValueError):
        profile = {}  # the name is a courtesy: sign-in goes on without it
    if profile.get("sub") != claims.get("sub"):
        profile = {}
    context.start(sid=claims.get("sid"), sub=claims["sub"], data={
        "access_token": token["access_token"], "expires_at": token.get("expires_at") or int(time.time()) + 300,
        "id_token": token.get("id_token"), "patient": token.get("patient"),
        "name": profile.get("name") or profile.get("preferred_username") or "",
        "signed_in_at": int(time.time()),
    })
    target = session.pop(NEXT_KEY, None) or url_for("pages.dashboard")
    return redirect(target, code=303)


def _drop_state() -> None:
    state = request.args.get("state")
    if state:
        session.pop(f"_state_carekey_{state}", None)


@bp.post("/logout")
def logout():
    csrf.protect()
    ended = context.end()
    settings = portal().settings
    after = f"{settings.public_url}{url_for('auth.signed_out')}"
    if ended is None:
        return redirect(url_for("auth.signed_out"), code=303)
    try:
        return redirect(portal().carekey.logout_url(ended.data.get("id_token"), after), code=303)
    except requests.RequestException:
        raise _identity_unreachable() from None


@bp.get("/signed-out")
def signed_out():
    from examples.portal.web.pages import render
    if context.current() is not None:
        return redirect(url_for("pages.dashboard"), code=303)
    return render("signed_out.html", title="You are signed out")


@bp.post("/backchannel-logout")
def backchannel_logout():
    token = request.form.get("logout_token", "")
    try:
        logout_request = portal().carekey.validate_logout_token(token)
    except LogoutTokenError as exc:
        log.warning("logout token refused: %s", exc)
        return _logout_answer({"error": "invalid_request", "error_description": "The logout token is not valid."},
                              400)
    except requests.RequestException:
        log.warning("could not fetch CareKey's keys to check a logout token")
        return _logout_answer({"error": "temporarily_unavailable"}, 503)
    if not portal().store.first_use_of(logout_request.jti, logout_request.exp):
        return _logout_answer({"error": "invalid_request", "error_description": "The logout token was used before."},
                              400)
    ended = portal().store.end_by_logout(sid=logout_request.sid, sub=logout_request.sub)
    log.info("back-channel logout ended %d session(s)", ended)
    return _logout_answer({}, 200)


def _logout_answer(body: dict, status: int):
    response = jsonify(body) if body else Response(status=status)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _identity_unreachable() -> PortalError:
    log.warning("CareKey is unreachable")
    return PortalError("Sign-in is unavailable right now", "We can't reach CareKey, the sign-in service, at the "
                       "moment. Please try again in a few minutes.", 503)
