"""The patient's own page: where the account is signed in, and signing sessions out."""
from __future__ import annotations

from flask import Blueprint, redirect, request, url_for

from services.identity.db.models import Account, SsoSession
from services.identity.domain import audit, sessions, signin
from services.identity.domain.interaction import DEFAULT_ACR
from services.identity.web import csrf
from services.identity.web.context import SESSION_COOKIE, client_ip, counters, db, services, set_session_cookie
from services.identity.web.logout import end_session
from services.identity.web.pages import page

bp = Blueprint("account", __name__, url_prefix="/account")


def _current():
    return sessions.current(db(), request.cookies.get(SESSION_COOKIE), services().timeouts)


@bp.get("/")
@bp.get("/sessions")
def overview():
    sso = _current()
    if sso is None:
        return page("account_login.html", error=None, username="")
    account = db().get(Account, sso.account_id)
    return page("sessions.html", account=account, current=sso,
                sessions=sessions.active_for_account(db(), account.id))


@bp.post("/login")
def login():
    csrf.protect()
    username = (request.form.get("username") or "").strip()
    result = signin.sign_in_with_password(db(), username, request.form.get("password") or "", client_ip(),
                                          services().limits, counters=counters)
    if result.account is None:
        return page("account_login.html", status=401 if result.refusal == "wrong" else 429, username=username,
                    error=result.message)
    sso, cookie = sessions.start(db(), result.account.id, amr=["pwd"], acr=DEFAULT_ACR,
                                 timeouts=services().timeouts, ip=client_ip(),
                                 user_agent=request.headers.get("User-Agent"))
    audit.record(db(), "login", "succeeded", account_id=result.account.id, ip=client_ip())
    response = redirect(url_for("account.overview"), code=303)
    set_session_cookie(response, cookie)
    return response


@bp.post("/sessions/<sid>/end")
def end(sid: str):
    csrf.protect()
    sso = _current()
    if sso is None:
        return redirect(url_for("account.overview"), code=303)
    target = db().get(SsoSession, sid)
    if target is not None and target.account_id == sso.account_id and target.ended_at is None:
        end_session(target)
    return redirect(url_for("account.overview"), code=303)
