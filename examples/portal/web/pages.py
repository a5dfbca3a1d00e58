"""The portal's pages: home (sign in, create an account, invitation) and the records dashboard."""
from __future__ import annotations

import time
from datetime import date

from flask import Blueprint, make_response, redirect, render_template, request, url_for

from examples.portal import fhir
from examples.portal.records import TokenRejected
from examples.portal.web import context
from examples.portal.web.context import portal
from examples.portal.web.errors import PortalError

bp = Blueprint("pages", __name__)

NOTICES = {"cancelled": "Sign-in was cancelled. You can sign in again whenever you are ready."}
REAUTH_GRACE_SECONDS = 30


def render(template: str, status: int = 200, **values):
    response = make_response(render_template(template, **values), status)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.after_app_request
def security_headers(response):
    response.headers.setdefault("Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                "frame-ancestors 'none'; form-action 'self' " + portal().settings.issuer)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response


@bp.get("/")
def home():
    if context.current() is not None:
        return redirect(url_for("pages.dashboard"), code=303)
    settings = portal().settings
    base = f"{settings.registration_url}/practices/{settings.practice_id}"
    return render("home.html", title=f"Welcome to {settings.name}", signup_url=f"{base}/signup",
                  invitation_url=f"{base}/invitation", notice=NOTICES.get(request.args.get("notice", "")))


@bp.get("/dashboard")
def dashboard():
    signed_in = context.current()
    if signed_in is None:
        return redirect(url_for("auth.login", next=url_for("pages.dashboard")), code=303)
    data = signed_in.data
    fresh = time.time() - data.get("signed_in_at", 0) < REAUTH_GRACE_SECONDS
    if data.get("expires_at", 0) <= time.time() + 10 and not fresh:
        return redirect(url_for("auth.login", next=url_for("pages.dashboard")), code=303)
    settings = portal().settings
    try:
        board = portal().records.dashboard(data["access_token"], settings.practice_id, data.get("patient"))
    except TokenRejected:
        if fresh:
            raise PortalError("Your records are unavailable", "The records service did not accept this sign-in. "
                              "Please sign out and sign in again.", 502) from None
        return redirect(url_for("auth.login", next=url_for("pages.dashboard")), code=303)
    base = f"{settings.registration_url}/practices/{settings.practice_id}"
    practices = sorted({link.practice for link in board.viewing}, key=lambda p: (p != settings.practice_id, p))
    today = date.today()
    age = fhir.age_on(board.person.birth_date, today) if board.person else None
    return render("dashboard.html", title=_title(board), board=board, account_name=data.get("name") or "",
                  connect_url=f"{base}/connect", practices=practices, age=age,
                  birth_date=fhir.human_date(board.person.birth_date) if board.person else "")


def _title(board) -> str:
    if board.refused:
        return "Records not available"
    if board.person is None:
        return "Your health record"
    if board.person.relationship == "self":
        return "Your health record"
    return f"{board.person.name}'s health record"


@bp.get("/theme.css")
def theme():
    response = make_response(f":root{{--accent:{portal().settings.accent}}}\n")
    response.headers.update({"Content-Type": "text/css; charset=utf-8", "Cache-Control": "public, max-age=300"})
    return response


@bp.get("/healthz")
def healthz():
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    try:
        portal().store.ping()
    except Exception:
        return {"status": "unavailable", "checks": {"database": "down"}}, 503
    return {"status": "ok", "checks": {"database": "ok"}}
