"""``GET /handoff?token=…``: redeem a one-time sign-in made by registration, start the SSO session and
send the browser on to the portal (see domain/handoffs.py)."""
from __future__ import annotations

from flask import Blueprint, redirect, request

from services.identity.domain import audit, handoffs, sessions
from services.identity.domain.interaction import DEFAULT_ACR
from services.identity.web.context import client_ip, db, services, set_session_cookie
from services.identity.web.pages import problem_page

bp = Blueprint("handoff", __name__)


@bp.get("/handoff")
def redeem():
    handoff = handoffs.redeem(db(), request.args.get("token", ""))
    if handoff is None:
        return problem_page("This sign-in link has expired",
                            "It works once and only for a couple of minutes. Sign in from your practice's portal "
                            "with the user ID and password you chose.", 410)
    _, cookie = sessions.start(db(), handoff.account_id, amr=["pwd"], acr=DEFAULT_ACR, timeouts=services().timeouts,
                               ip=client_ip(), user_agent=request.headers.get("User-Agent"))
    audit.record(db(), "login", "succeeded", account_id=handoff.account_id, ip=client_ip(), via="registration")
    response = redirect(handoff.return_to, code=303)
    set_session_cookie(response, cookie)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
