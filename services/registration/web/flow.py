"""The registration pages' blueprint and what its views share: the practice in the URL, the person's
enrollment (its id lives in the signed registration cookie), and the CareKey account they signed in
with (for linking an existing account, connecting a practice or acting as a proxy)."""
from __future__ import annotations

import time

from flask import Blueprint, redirect, request, session, url_for

from services.registration.db.models import Enrollment
from services.registration.domain import enrollment as enrollments, practices, throttle
from services.registration.domain.practices import PracticeView
from services.registration.web.context import db
from services.registration.web.pages_common import message
from shared import csrf
from shared.errors import AppError

bp = Blueprint("pages", __name__)

ENROLLMENT = "enrollment"
ACCOUNT = "account_id"
SIGNED_IN_AT = "signed_in_at"
SIGN_IN_FRESH_FOR = 30 * 60  # a sign-in used to link or act as a proxy must be this recent


class PageNotFound(AppError):
    def __init__(self) -> None:
        super().__init__("not_found", 404, "We couldn't find that practice. Check the address your practice gave you.")


def practice_or_404(practice_id: str) -> PracticeView:
    found = practices.get(db(), practice_id) if len(practice_id) <= 64 else None
    if found is None:
        raise PageNotFound()
    return found


def begin(practice: PracticeView, path: str, **kwargs) -> Enrollment:
    started = enrollments.start(db(), practice, path, **kwargs)
    session[ENROLLMENT] = started.id
    return started


def current() -> tuple[Enrollment | None, PracticeView | None]:
    found = enrollments.load(db(), session.get(ENROLLMENT))
    if found is None:
        return None, None
    return found, practices.get(db(), found.practice_id)


def expired_page():
    return message("Your session has ended", "For your security, registration steps expire after 30 minutes. "
                   "Start again from your practice's portal.", 410)


def locked_page(practice: PracticeView | None, enrollment: Enrollment):
    name = practice.name if practice else "your practice"
    return message("Too many attempts", f"For your security we've paused this registration. Try again later, or "
                   f"contact {name} for help.", 429, retry_after=enrollments.seconds_left(enrollment))


@bp.errorhandler(throttle.Throttled)
def too_many_attempts(exc: throttle.Throttled):
    """A per-address limit: the same page for anyone from that address, whatever they typed."""
    minutes = max(1, round(exc.retry_after / 60))
    return message("Too many attempts", f"We've had too many attempts from your network. For your security, try "
                   f"again in {minutes} minute{'s' if minutes != 1 else ''}.", 429, retry_after=exc.retry_after)


def signed_in_account() -> str | None:
    """The account the person signed in with here, if recently enough to act on."""
    at = session.get(SIGNED_IN_AT)
    if not session.get(ACCOUNT) or not at or time.time() - at > SIGN_IN_FRESH_FOR:
        return None
    return session[ACCOUNT]


def require_sign_in(next_url: str):
    return redirect(url_for("oidc.login", next=next_url), code=303)


def protect_form() -> None:
    if request.method == "POST":
        csrf.protect()
