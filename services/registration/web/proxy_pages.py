"""A signed-in person asks to act for someone else: with a proxy code from the practice, or by a
request the practice approves (see domain/proxies.py for the age rules)."""
from __future__ import annotations

from flask import request, url_for

from services.registration.domain import enrollment as enrollments, matching, proxies
from services.registration.domain.office_codes import RELATIONSHIPS
from services.registration.interfaces import IdentityError
from services.registration.web import forms
from services.registration.web.context import db, domain_context, services
from services.registration.web.flow import bp, practice_or_404, protect_form, require_sign_in, signed_in_account
from services.registration.web.pages_common import message, page


@bp.route("/practices/<practice_id>/proxy", methods=["GET", "POST"])
def proxy(practice_id: str):
    practice = practice_or_404(practice_id)
    account_id = signed_in_account()
    if account_id is None:
        return require_sign_in(url_for("pages.proxy", practice_id=practice.id))
    protect_form()
    context = dict(practice=practice, account_name="you")
    if request.method == "GET":
        return page("proxy.html", values={}, errors={}, **context)
    values, errors = forms.parse(forms.ProxyCodeForm(), request.form)
    if errors:
        return page("proxy.html", 400, values=values, errors=errors, error="Check the details below.", **context)
    ctx = domain_context()
    outcome, grant = proxies.redeem_code(db(), practice, account_id, values["code"], values["birth_date"],
                                         pepper=ctx.pepper, ip=ctx.ip)
    if outcome == proxies.REFUSED:
        return page("proxy.html", 403, values={}, errors={}, error=f"{practice.name}'s rules don't allow access "
                    f"to this patient's records right now. {grant.decision.reason} Contact the practice.", **context)
    if outcome != proxies.GRANTED:
        return page("proxy.html", 400, values={}, errors={}, error="That code and date of birth don't match. "
                    "Check them and try again, or ask the practice for a new code.", **context)
    try:
        proxies.grant(db(), services().identity, practice, account_id, grant, ip=ctx.ip)
    except IdentityError:
        db().rollback()
        return message("Try again in a minute", "We couldn't finish linking just now. Nothing was changed.", 503)
    who = grant.entry.given_name
    return message("Access granted", f"You can now see {who}'s records at {practice.name}. In the portal, choose "
                   f"{who} from the patient switcher.", practice=practice,
                   link=practice.settings.portal_url or None, link_text=f"Go to {practice.name}")


@bp.route("/practices/<practice_id>/proxy/request", methods=["GET", "POST"])
def proxy_request(practice_id: str):
    practice = practice_or_404(practice_id)
    account_id = signed_in_account()
    if account_id is None:
        return require_sign_in(url_for("pages.proxy_request", practice_id=practice.id))
    protect_form()
    context = dict(practice=practice, relationships=RELATIONSHIPS)
    if request.method == "GET":
        return page("proxy_request.html", values={}, errors={}, **context)
    values, errors = forms.parse(forms.ProxyRequestForm(), request.form)
    if errors:
        return page("proxy_request.html", 400, values=values, errors=errors, error="Check the details below.",
                    **context)
    try:
        account = services().identity.account(account_id) or {}
    except IdentityError:
        account = {}
    name = " ".join(filter(None, [account.get("given_name"), account.get("family_name")])) or "A CareKey user"
    patient = matching.Person(given=values["given_name"], family=values["family_name"],
                              birth_date=values["birth_date"])
    ctx = domain_context()
    proxies.request_access(db(), practice, account_id, name, patient, values["relationship"],
                           thresholds=enrollments.thresholds(practice), ip=ctx.ip)
    return message("Request sent", f"{practice.name} will review your request. We'll email you when it's "
                   "approved.", practice=practice)
