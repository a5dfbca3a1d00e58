"""Guardians and proxies (seeds 001, 002): a practice grants access with a proxy code or by approving a
request, under its age rules; every patient keeps their own account; who acts for whom is audited."""
from __future__ import annotations

from datetime import date

from sqlalchemy import select

from services.identity.db.models import Account, PatientLink
from services.registration.domain.practices import ProxyRules
from services.registration.domain.proxies import decide
from tests.registration.conftest import PatientBrowser, email_text, latest_email, shown, sign_in_at_identity
from tests.registration.test_accounts_across_practices import register_by_pin
from tests.identity.conftest import PASSWORD


def born(age: int) -> date:
    today = date.today()
    birthday = date(today.year - age, 3, 1)
    return birthday if (3, 1) <= (today.month, today.day) else birthday.replace(year=birthday.year - 1)


def _guardian(practice, browser):
    row = practice.patient(pin="4242")
    username = f"{row['family_name'].lower()}.parent"
    register_by_pin(browser, practice, row, username)
    return row, username


def _signed_in(browser, practice, path, username):
    page = browser.get(path)
    if 'name="password"' in page.text:
        page = sign_in_at_identity(browser, page, username, PASSWORD)
    return page


def _proxy_links(identity_server, username):
    with identity_server.app.extensions["carekey.sessions"]() as session:
        account = session.scalar(select(Account).where(Account.username_key == username.lower()))
        return [(l.patient_id, l.relationship, l.valid_until) for l in session.scalars(
            select(PatientLink).where(PatientLink.account_id == account.id, PatientLink.relationship == "proxy"))]


def test_a_parent_with_a_proxy_code_gets_their_childs_records_until_twelve(operator, practice, messages, browser,
                                                                          identity_server, registration_server):
    parent, username = _guardian(practice, browser)
    child = practice.patient(given_name="Mia", family_name=parent["family_name"], birth_date=born(7).isoformat(),
                             email="", phone="")
    issued = operator.call("POST", f"/api/practices/{practice.id}/proxy-codes",
                           json={"mrn": child["mrn"], "relationship": "parent"})
    assert issued.status_code == 201
    browser2 = PatientBrowser(browser.base)
    page = _signed_in(browser2, practice, f"/practices/{practice.id}/proxy", username)
    assert "proxy code" in shown(page)
    wrong = browser2.post(None, {"code": issued.json()["code"], "birth_date": "01/01/2001"})
    assert wrong.status_code == 400
    page = browser2.post(None, {"code": issued.json()["code"], "birth_date": born(7).strftime("%m/%d/%Y")})
    assert page.status_code == 200 and "Access granted" in shown(page), shown(page)[:300]
    links = _proxy_links(identity_server, username)
    assert [(p, r) for p, r, _ in links] == [(child["mrn"], "proxy")]
    assert links[0][2].date() == born(7).replace(year=born(7).year + 12)  # until the 12th birthday
    notice = latest_email(messages, parent["email"], count=2)
    assert "Mia" in email_text(notice)
    audit = operator.call("GET", f"/api/practices/{practice.id}/audit?action=proxy").json()
    assert audit[0]["outcome"] == "linked" and audit[0]["details"]["kind"] == "child"
    # the code worked once
    again = browser2.get(f"/practices/{practice.id}/proxy")
    again = browser2.post(None, {"code": issued.json()["code"], "birth_date": born(7).strftime("%m/%d/%Y")})
    assert again.status_code == 400


def test_a_teen_without_their_agreement_is_not_shared(operator, practice, browser, identity_server):
    parent, username = _guardian(practice, browser)
    teen = practice.patient(given_name="Noah", family_name=parent["family_name"], birth_date=born(14).isoformat())
    code = operator.call("POST", f"/api/practices/{practice.id}/proxy-codes",
                         json={"mrn": teen["mrn"], "relationship": "parent"}).json()["code"]
    other = PatientBrowser(browser.base)
    _signed_in(other, practice, f"/practices/{practice.id}/proxy", username)
    page = other.post(None, {"code": code, "birth_date": born(14).strftime("%m/%d/%Y")})
    assert page.status_code == 403 and "agreement" in shown(page)
    assert _proxy_links(identity_server, username) == []
    # with the teen's agreement on file, the practice's new code works, until 18
    code = operator.call("POST", f"/api/practices/{practice.id}/proxy-codes",
                         json={"mrn": teen["mrn"], "relationship": "parent", "patient_agreed": True}).json()["code"]
    other.get(f"/practices/{practice.id}/proxy")
    page = other.post(None, {"code": code, "birth_date": born(14).strftime("%m/%d/%Y")})
    assert "Access granted" in shown(page)
    assert _proxy_links(identity_server, username)[0][2].year == born(14).year + 18


def test_a_request_the_practice_approves(operator, practice, browser, identity_server):
    spouse, username = _guardian(practice, browser)
    patient = practice.patient(given_name="Jordan", birth_date="1980-02-02")
    other = PatientBrowser(browser.base)
    page = _signed_in(other, practice, f"/practices/{practice.id}/proxy/request", username)
    page = other.post(None, {"given_name": "Jordan", "family_name": patient["family_name"],
                             "birth_date": "02/02/1980", "relationship": "spouse"})
    assert "Request sent" in shown(page)
    pending = operator.call("GET", f"/api/practices/{practice.id}/proxy-requests").json()
    mine = [r for r in pending if r["patient"] and r["patient"]["mrn"] == patient["mrn"]]
    assert len(mine) == 1 and mine[0]["relationship"] == "spouse"
    # an adult's records need the adult's agreement
    refused = operator.call("POST", f"/api/practices/{practice.id}/proxy-requests/{mine[0]['id']}/approve", json={})
    assert refused.status_code == 409
    approved = operator.call("POST", f"/api/practices/{practice.id}/proxy-requests/{mine[0]['id']}/approve",
                             json={"patient_agreed": True})
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    links = _proxy_links(identity_server, username)
    assert links[0][0] == patient["mrn"] and (links[0][2].date() - date.today()).days in (364, 365)
    again = operator.call("POST", f"/api/practices/{practice.id}/proxy-requests/{mine[0]['id']}/decline")
    assert again.status_code == 409


def test_proxy_pages_need_a_sign_in(practice, browser):
    page = browser.http.get(f"{browser.base}/practices/{practice.id}/proxy", allow_redirects=False, timeout=10)
    assert page.status_code == 303 and "/oidc/login" in page.headers["Location"]


def test_age_rules_table():
    rules = ProxyRules(full_access_under=12, teen_until=18, adult_proxy_days=30)
    today = date(2026, 6, 1)
    cases = [(date(2020, 6, 2), False, True, "child"), (date(2014, 6, 2), False, True, "child"),
             (date(2014, 6, 1), False, False, "teen"), (date(2014, 6, 1), True, True, "teen"),
             (date(2008, 6, 1), False, False, "adult"), (date(2008, 6, 1), True, True, "adult")]
    for birth, agreed, allowed, kind in cases:
        decision = decide(rules, birth, patient_agreed=agreed, today=today)
        assert (decision.allowed, decision.kind) == (allowed, kind), (birth, agreed)
    assert decide(rules, date(2008, 6, 1), patient_agreed=True, today=today).valid_until.date() == date(2026, 7, 1)
    # a record imported without a date of birth: no age rule can apply, so no proxy until it is on file
    unknown = decide(rules, None, patient_agreed=True, today=today)
    assert (unknown.allowed, unknown.kind) == (False, "unknown") and "date of birth" in unknown.reason
