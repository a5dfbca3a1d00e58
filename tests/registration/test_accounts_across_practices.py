"""One account across practices (seeds 000, 001, 002): the proven person who already has a CareKey
account signs in to link the new practice ("Verify Identification"); no second account is made; a
signed-in patient connects another practice with a code and no password."""
from __future__ import annotations

import re

import requests
from sqlalchemy import func, select

from services.identity.db.models import Account, PatientLink
from tests.identity.conftest import PASSWORD
from tests.registration.conftest import (PatientBrowser, latest_text, shown, sign_in_at_identity, six_digits,
                                         unique_family)


def register_by_pin(browser: PatientBrowser, practice, row, username: str) -> None:
    browser.get(f"/practices/{practice.id}/signup")
    browser.identify(row, email=row["email"])
    browser.post(None, {"method": "pin", "pin": row["pin"]})
    page = browser.post(None, {"username": username, "email": row["email"], "password": PASSWORD,
                               "confirm": PASSWORD, "accept": "yes"})
    assert page.url.endswith("/enroll/done"), shown(page)[:400]


def continue_to_portal(browser: PatientBrowser, identity_server) -> None:
    """The done page's button: a one-time sign-in at identity (its SSO cookie), then the portal."""
    token = re.search(r'name="csrf_token" value="([^"]+)"', browser.last.text).group(1)
    handoff = browser.http.post(f"{browser.base}/enroll/continue", data={"csrf_token": token},
                                allow_redirects=False, timeout=10)
    landed = browser.http.get(handoff.headers["Location"], allow_redirects=False, timeout=10)
    assert landed.status_code == 303


def _links(identity_server, username: str) -> list[tuple[str, str, str]]:
    with identity_server.app.extensions["carekey.sessions"]() as session:
        account = session.scalar(select(Account).where(Account.username_key == username.lower()))
        rows = session.scalars(select(PatientLink).where(PatientLink.account_id == account.id)).all()
        return sorted((r.practice_id, r.patient_id, r.relationship) for r in rows)


def test_a_patient_with_an_account_links_a_second_practice_by_signing_in(operator, practice, messages, browser,
                                                                         identity_server, registration_server):
    from tests.registration.conftest import _portal_client
    row = practice.patient(pin="2468")
    username = f"{row['family_name'].lower()}.one"
    register_by_pin(browser, practice, row, username)

    # a second practice has the same person on file under its own MRN
    second_id = f"{practice.id}-b"
    portal = f"http://127.0.0.1:{int(practice.portal.rsplit(':', 1)[1]) + 1}"
    client_id = _portal_client(identity_server, second_id, portal)
    assert operator.call("PUT", f"/api/practices/{second_id}", json={
        "name": "Second Practice", "settings": {"portal_url": f"{portal}/login", "portal_client_ids": [client_id]}}
    ).status_code == 200
    second = dict(row, mrn=f"{row['mrn']}-2", pin="9753")
    second.pop("phone_e164")
    assert operator.call("POST", f"/api/practices/{second_id}/roster", json={"rows": [second]}).status_code == 200

    other_browser = PatientBrowser(browser.base)
    other_browser.get(f"/practices/{second_id}/signup")
    other_browser.identify(second, email=second["email"])
    page = other_browser.post(None, {"method": "pin", "pin": "9753"})
    assert page.url.endswith("/enroll/existing"), shown(page)[:300]
    assert "You already have a CareKey account" in shown(page)

    # "Sign in to link": identity's login page, then back to registration, which links
    page = other_browser.get("/oidc/login?next=/enroll/existing/verify")
    page = sign_in_at_identity(other_browser, page, username, PASSWORD)
    assert page.url.endswith("/enroll/done"), shown(page)[:500]
    text = shown(page)
    assert "Second Practice" in text and f"Practice {practice.id}" in text  # the practices it now reaches
    assert _links(identity_server, username) == sorted([(practice.id, row["mrn"], "self"),
                                                        (second_id, second["mrn"], "self")])
    with identity_server.app.extensions["carekey.sessions"]() as session:
        family_accounts = session.scalar(select(func.count()).select_from(Account)
                                         .where(Account.family_name == row["family_name"]))
    assert family_accounts == 1  # no second account


def test_signing_in_as_someone_else_links_nothing(operator, practice, browser, identity_server):
    row, stranger = practice.patient(pin="1212"), practice.patient(pin="3434", given_name="Robin",
                                                                    birth_date="1990-01-01")
    register_by_pin(browser, practice, row, f"{row['family_name']}.a")
    register_by_pin(PatientBrowser(browser.base), practice, stranger, f"{stranger['family_name']}.b")
    # the same person as `row` at another MRN of this practice: proven, then signs in as the stranger
    twin_record = dict(row, mrn=row["mrn"] + "-x", pin="5656")
    twin_record.pop("phone_e164")
    operator.call("POST", f"/api/practices/{practice.id}/roster", json={"rows": [twin_record]})
    other = PatientBrowser(browser.base)
    other.get(f"/practices/{practice.id}/security-code")
    code = operator.call("POST", f"/api/practices/{practice.id}/security-codes",
                         json={"mrn": twin_record["mrn"]}).json()["code"]
    page = other.post(None, {"given_name": "Alex", "family_name": row["family_name"], "birth_date": "06/12/1985",
                             "zip": row["zip"], "code": code})
    assert page.url.endswith("/enroll/existing"), shown(page)[:300]
    page = other.get("/oidc/login?next=/enroll/existing/verify")
    page = sign_in_at_identity(other, page, f"{stranger['family_name']}.b", PASSWORD)
    assert page.status_code == 403 and "different account" in shown(page)
    assert _links(identity_server, f"{stranger['family_name']}.b") == [(practice.id, stranger["mrn"], "self")]


def test_a_signed_in_patient_connects_another_practice_with_a_code_and_no_password(
        operator, practice, messages, browser, identity_server):
    from tests.registration.conftest import _portal_client
    row = practice.patient(pin="1122")
    username = f"{row['family_name'].lower()}.sso"
    register_by_pin(browser, practice, row, username)
    continue_to_portal(browser, identity_server)  # the SSO session at identity

    second_id = f"{practice.id}-c"
    portal = f"http://127.0.0.1:{int(practice.portal.rsplit(':', 1)[1]) + 2}"
    operator.call("PUT", f"/api/practices/{second_id}", json={
        "name": "Connected Practice", "settings": {"portal_url": f"{portal}/login",
                                                  "portal_client_ids": [_portal_client(identity_server, second_id,
                                                                                       portal)]}})
    second = dict(row, mrn=f"{row['mrn']}-c", zip="97202")
    second.pop("phone_e164")
    operator.call("POST", f"/api/practices/{second_id}/roster", json={"rows": [second]})

    page = browser.get(f"/practices/{second_id}/connect")
    assert page.url.endswith("/enroll/identify"), page.url  # SSO: no password asked
    page = browser.identify(second)
    assert page.url.endswith("/enroll/prove")
    page = browser.post(None, {"method": "sms", "phone": row["phone"]})
    code = six_digits(latest_text(messages, row["phone_e164"]))
    page = browser.post(None, {"code": code})
    assert page.url.endswith("/enroll/done"), shown(page)[:400]
    assert (second_id, second["mrn"], "self") in _links(identity_server, username)
    # "Continue" goes straight to the portal: the SSO session is already there
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    onward = browser.http.post(f"{browser.base}/enroll/continue", data={"csrf_token": token},
                               allow_redirects=False, timeout=10)
    assert onward.headers["Location"] == f"{portal}/login"


def test_connect_requires_a_fresh_sign_in(practice, browser, identity_server):
    page = browser.http.get(f"{browser.base}/practices/{practice.id}/connect", allow_redirects=False, timeout=10)
    assert page.status_code == 303 and "/oidc/login" in page.headers["Location"]
    # an open redirect through ?next= is not possible
    page = browser.http.get(f"{browser.base}/oidc/login?next=https://evil.example/", allow_redirects=False,
                            timeout=10)
    assert page.headers["Location"].startswith(identity_server.url)
    with requests.Session() as http:
        assert http.get(f"{browser.base}/oidc/callback?code=x&state=y", timeout=10).status_code == 400


def test_unknown_family_names_never_collide():
    assert unique_family() != unique_family()


def test_security_questions_verify_an_existing_account_where_it_still_has_them(operator, practice, browser,
                                                                               identity_server):
    """Seed 000: "Answer security questions" instead of signing in, after the code or PIN for the record."""
    from services.identity.domain import security_questions
    row = practice.patient(pin="7788")
    username = f"{row['family_name'].lower()}.sq"
    register_by_pin(browser, practice, row, username)
    with identity_server.app.extensions["carekey.sessions"]() as session:
        account = session.scalar(select(Account).where(Account.username_key == username))
        for question, answer in zip(security_questions.QUESTIONS[:2], ("Lincoln Elementary", "Tacoma")):
            security_questions.set_answer(session, account.id, question, answer)
        session.commit()
    duplicate = dict(row, mrn=row["mrn"] + "-q", pin="8899")
    duplicate.pop("phone_e164")
    operator.call("POST", f"/api/practices/{practice.id}/roster", json={"rows": [duplicate]})
    other = PatientBrowser(browser.base)
    code = operator.call("POST", f"/api/practices/{practice.id}/security-codes",
                         json={"mrn": duplicate["mrn"]}).json()["code"]
    other.get(f"/practices/{practice.id}/security-code")
    page = other.post(None, {"given_name": "Alex", "family_name": row["family_name"], "birth_date": "06/12/1985",
                             "zip": row["zip"], "code": code})
    assert page.url.endswith("/enroll/existing")
    text = shown(page)
    assert security_questions.QUESTIONS[0] in text and security_questions.QUESTIONS[1] in text
    order = sorted(security_questions.QUESTIONS[:2])  # as the page lists them
    right = {security_questions.QUESTIONS[0]: "lincoln  elementary!", security_questions.QUESTIONS[1]: "TACOMA"}
    wrong = other.post(None, {f"answer-{i}": ("Seattle" if "city" in q else right[q]) for i, q in enumerate(order)})
    assert wrong.status_code == 400 and "don't match" in shown(wrong)
    page = other.post(None, {f"answer-{i}": right[q] for i, q in enumerate(order)})
    assert page.url.endswith("/enroll/done"), shown(page)[:300]
    assert (practice.id, duplicate["mrn"], "self") in _links(identity_server, username)


def test_twins_sharing_birthday_address_and_phone_get_their_own_accounts(practice, browser, identity_server):
    family = unique_family()
    shared = dict(family_name=family, birth_date="2004-05-05", address="7 Twin Way", phone="(555) 777-0505",
                  email=f"{family.lower()}@example.org")
    john = practice.patient(given_name="John", pin="1001", **shared)
    james = practice.patient(given_name="James", pin="2002", **shared)
    register_by_pin(browser, practice, john, f"{family}.john")
    second = PatientBrowser(browser.base)
    second.get(f"/practices/{practice.id}/signup")
    second.identify(james, email=james["email"])
    page = second.post(None, {"method": "pin", "pin": "2002"})
    assert page.url.endswith("/enroll/account"), shown(page)[:300]  # not "you already have an account"
    page = second.post(None, {"username": f"{family}.james", "email": f"james.{family}@example.org",
                              "password": PASSWORD, "confirm": PASSWORD, "accept": "yes"})
    assert page.url.endswith("/enroll/done")
    assert _links(identity_server, f"{family}.john") == [(practice.id, john["mrn"], "self")]
    assert _links(identity_server, f"{family}.james") == [(practice.id, james["mrn"], "self")]
