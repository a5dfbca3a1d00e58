"""Seeds 000, 001, 003: the office invites a patient on its roster; the email's single-use link leads to
identification, proof by a code texted to the phone on file, a new account, and the portal."""
from __future__ import annotations

import re

import requests

from tests.identity.conftest import PASSWORD
from tests.registration.conftest import email_text, latest_email, latest_text, shown, six_digits


def _invite(operator, practice, row) -> tuple[str, str]:
    response = operator.call("POST", f"/api/practices/{practice.id}/invitations", json={"mrn": row["mrn"]})
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "pending"
    return response.json()["id"], row["email"]


def _link_and_code(messages, address: str, count: int = 1) -> tuple[str, str]:
    from tests.helpers import wait_until
    found = wait_until(lambda: len(messages.smtp.to(address)) >= count and messages.smtp.to(address), timeout=15)
    assert found, f"no invitation reached {address}"
    text = email_text(found[-1])
    link = re.search(r"(http://\S+/invite/\S+)", text).group(1)
    code = re.search(r"activation code: ([A-Z0-9-]+)", text).group(1)
    return link, code


def test_invited_patient_registers_with_a_texted_code_and_lands_at_the_portal(operator, practice, messages, browser,
                                                                              identity_server):
    row = practice.patient()
    _invite(operator, practice, row)
    link, _ = _link_and_code(messages, row["email"])

    page = browser.get(link)
    assert page.status_code == 200 and "Tell us who you are" in page.text
    page = browser.identify(row)
    assert page.url.endswith("/enroll/prove"), page.text[:300]
    assert "Text a code to my phone on file" in page.text

    page = browser.post(None, {"method": "sms", "phone": row["phone"]})  # seed 003: the number on file, typed
    assert page.url.endswith("/enroll/code")
    code = six_digits(latest_text(messages, row["phone_e164"]))
    page = browser.post(None, {"code": code})
    assert page.url.endswith("/enroll/account"), page.text[:300]

    username = f"{row['family_name'].lower()}.user"
    page = browser.post(None, {"username": username, "email": row["email"], "password": PASSWORD,
                               "confirm": PASSWORD, "accept": "yes"})
    assert page.url.endswith("/enroll/done"), page.text[:500]
    assert f"Practice {practice.id}" in page.text

    # the confirmation email names the user ID
    welcome = latest_email(messages, row["email"], count=2)
    assert username in email_text(welcome)

    # Continue: a one-time sign-in at identity, then on to the portal's login (not served here)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    handoff = browser.http.post(f"{browser.base}/enroll/continue", data={"csrf_token": token},
                                allow_redirects=False, timeout=10)
    assert handoff.status_code == 303 and handoff.headers["Location"].startswith(f"{identity_server.url}/handoff?")
    landed = browser.http.get(handoff.headers["Location"], allow_redirects=False, timeout=10)
    assert landed.status_code == 303 and landed.headers["Location"] == f"{practice.portal}/login"
    assert "carekey_session" in landed.cookies

    # the link worked once: it now shows the same page as an unknown link
    again = requests.get(link, timeout=10)
    unknown = requests.get(link[:-4] + "abcd", timeout=10)
    assert again.status_code == unknown.status_code == 410
    assert "Ask your practice to resend" in again.text and again.text == unknown.text

    # and identity really has the account and its link to the practice's record
    api = identity_server.app.extensions["carekey.sessions"]
    from sqlalchemy import select
    from services.identity.db.models import Account, PatientLink
    with api() as session:
        account = session.scalar(select(Account).where(Account.username_key == username))
        links = session.scalars(select(PatientLink).where(PatientLink.account_id == account.id)).all()
    assert [(l.practice_id, l.patient_id, l.relationship) for l in links] == [(practice.id, row["mrn"], "self")]
    # the handoff works only once
    replay = requests.get(handoff.headers["Location"], allow_redirects=False, timeout=10)
    assert replay.status_code == 410


def test_a_resend_voids_the_old_link_and_activation_code(operator, practice, messages, browser):
    row = practice.patient()
    _invite(operator, practice, row)
    old_link, old_code = _link_and_code(messages, row["email"], 1)
    _invite(operator, practice, row)
    new_link, new_code = _link_and_code(messages, row["email"], 2)
    assert new_link != old_link and new_code != old_code
    assert browser.get(old_link).status_code == 410
    page = browser.get(f"/practices/{practice.id}/invitation")
    page = browser.post(None, {"code": old_code})
    assert page.status_code == 400 and "didn't work" in shown(page)
    page = browser.post(None, {"code": new_code.lower().replace("-", " ")})
    assert page.url.endswith("/enroll/identify") and "Tell us who you are" in page.text
    statuses = [i["status"] for i in operator.call("GET", f"/api/practices/{practice.id}/invitations/{row['mrn']}").json()]
    assert statuses == ["pending", "voided"]


def test_an_expired_invitation_shows_ask_your_practice(operator, practice, messages, browser, registration_server):
    row = practice.patient()
    invitation_id, _ = _invite(operator, practice, row)
    link, _ = _link_and_code(messages, row["email"])
    from datetime import timedelta
    from sqlalchemy import update
    from services.registration.db.models import Invitation
    from shared.clock import now
    with registration_server.app.extensions["carekey.sessions"]() as session:
        session.execute(update(Invitation).where(Invitation.id == invitation_id)
                        .values(expires_at=now() - timedelta(seconds=1)))
        session.commit()
    page = browser.get(link)
    assert page.status_code == 410 and "Ask your practice to resend" in page.text


def test_the_invitation_link_needs_no_email_on_file_to_exist(operator, practice):
    row = practice.patient(email="")
    response = operator.call("POST", f"/api/practices/{practice.id}/invitations", json={"mrn": row["mrn"]})
    assert response.status_code == 409
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert "security code" in response.json()["detail"]
