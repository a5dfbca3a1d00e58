"""Self sign-up (seed 001), proof by PIN, email or text code (seeds 002, 003), the office security code
(seed 002), and the limits on codes: 10 minutes, single use, 5 attempts, resends that don't reset them."""
from __future__ import annotations

import re
from datetime import date, timedelta

from sqlalchemy import select, update

from services.registration.db.models import AuditEvent, Enrollment
from shared.clock import now
from tests.identity.conftest import PASSWORD
from tests.registration.conftest import email_text, latest_email, latest_text, shown, six_digits


def _signup(browser, practice, row, **overrides):
    browser.get(f"/practices/{practice.id}/signup")
    data = {"email": row["email"]}
    data.update(overrides)
    return browser.identify(row, **data)


def test_self_sign_up_with_a_code_emailed_to_the_address_on_file(practice, messages, browser):
    row = practice.patient()
    page = _signup(browser, practice, row)
    assert page.url.endswith("/enroll/prove")
    page = browser.post(None, {"method": "email"})
    code = six_digits(email_text(latest_email(messages, row["email"])))
    page = browser.post(None, {"code": code})
    assert page.url.endswith("/enroll/account")
    # the email typed at sign-up is offered as the user ID
    assert f'value="{row["email"]}"' in page.text


def test_sign_up_off_when_the_practice_registers_only_by_invitation(practice, browser):
    practice.put(paths=["invitation"])
    page = browser.get(f"/practices/{practice.id}/signup")
    assert page.status_code == 404 and "invitation" in page.text


def test_office_pin_proves_identity_and_a_wrong_one_counts(practice, browser):
    row = practice.patient(pin="8642")
    _signup(browser, practice, row)
    page = browser.post(None, {"method": "pin", "pin": "0000"})
    assert page.status_code == 400 and "PIN didn" in shown(page)
    page = browser.post(None, {"method": "pin", "pin": "8642"})
    assert page.url.endswith("/enroll/account")


def test_five_wrong_codes_lock_the_enrollment_and_resends_do_not_reset_the_count(practice, messages, browser,
                                                                                 registration_server):
    row = practice.patient()
    _signup(browser, practice, row)
    browser.post(None, {"method": "sms", "phone": row["phone"]})
    first = six_digits(latest_text(messages, row["phone_e164"]))
    wrong = "000000" if first != "000000" else "111111"
    for _ in range(2):
        assert browser.post("/enroll/code", {"code": wrong}).status_code == 400
    page = browser.post("/enroll/code/resend", {})
    second = six_digits(latest_text(messages, row["phone_e164"], count=2))
    # the first code no longer works after a resend
    if first != second:
        assert browser.post("/enroll/code", {"code": first}).status_code == 400
    else:
        browser.post("/enroll/code", {"code": wrong})
    assert browser.post("/enroll/code", {"code": wrong}).status_code == 400
    page = browser.post("/enroll/code", {"code": wrong})
    assert page.status_code == 429 and "Too many attempts" in page.text
    # even the right code is refused now
    page = browser.get("/enroll/code")
    assert page.status_code == 429
    with registration_server.app.extensions["carekey.sessions"]() as session:
        outcomes = session.scalars(select(AuditEvent.outcome).where(AuditEvent.practice_id == practice.id,
                                                                    AuditEvent.action == "prove")).all()
    assert outcomes.count("wrong") == 5 and "locked" in outcomes


def test_codes_expire_after_ten_minutes(practice, messages, browser, registration_server):
    row = practice.patient()
    _signup(browser, practice, row)
    browser.post(None, {"method": "sms", "phone": row["phone"]})
    code = six_digits(latest_text(messages, row["phone_e164"]))
    with registration_server.app.extensions["carekey.sessions"]() as session:
        session.execute(update(Enrollment).where(Enrollment.practice_id == practice.id)
                        .values(code_expires_at=now() - timedelta(seconds=1)))
        session.commit()
    page = browser.post(None, {"code": code})
    assert page.status_code == 400 and "expired" in page.text


def test_resends_are_limited(practice, messages, browser):
    row = practice.patient()
    _signup(browser, practice, row)
    browser.post(None, {"method": "sms", "phone": row["phone"]})
    statuses = [browser.post("/enroll/code/resend", {}).status_code for _ in range(4)]
    assert statuses[:3] == [200, 200, 200] and statuses[3] == 429
    assert len(latest_text(messages, row["phone_e164"], count=4)) > 0
    assert len(messages.twilio.sent("message", row["phone_e164"])) == 4


def test_the_office_security_code_registers_by_username(operator, practice, browser):
    """Seed 002: "register by username" with the office's security code; no email on file needed."""
    row = practice.patient(email="")
    issued = operator.call("POST", f"/api/practices/{practice.id}/security-codes", json={"mrn": row["mrn"]})
    assert issued.status_code == 201
    code = issued.json()["code"]
    browser.get(f"/practices/{practice.id}/security-code")
    born = date.fromisoformat(row["birth_date"]).strftime("%m/%d/%Y")
    page = browser.post(None, {"given_name": "Alex", "family_name": row["family_name"], "birth_date": born,
                               "zip": row["zip"], "code": code})
    assert page.url.endswith("/enroll/account"), shown(page)[:400]
    username = f"{row['family_name']}.User"
    page = browser.post(None, {"username": username, "email": f"{row['family_name']}@mail.example.org",
                               "password": PASSWORD, "confirm": PASSWORD, "accept": "yes"})
    assert page.url.endswith("/enroll/done")
    # single use
    browser2 = type(browser)(browser.base)
    browser2.get(f"/practices/{practice.id}/security-code")
    page = browser2.post(None, {"given_name": "Alex", "family_name": row["family_name"], "birth_date": born,
                                "zip": row["zip"], "code": code})
    assert page.status_code == 400


def test_a_security_code_for_someone_else_proves_nothing(operator, practice, browser):
    row, other = practice.patient(), practice.patient()
    code = operator.call("POST", f"/api/practices/{practice.id}/security-codes", json={"mrn": other["mrn"]}).json()["code"]
    browser.get(f"/practices/{practice.id}/security-code")
    page = browser.post(None, {"given_name": "Alex", "family_name": row["family_name"],
                               "birth_date": "06/12/1985", "zip": row["zip"], "code": code})
    assert page.status_code == 400


def test_account_form_errors_keep_the_person_on_the_page(practice, messages, browser):
    row = practice.patient(pin="1357")
    _signup(browser, practice, row)
    browser.post(None, {"method": "pin", "pin": "1357"})
    page = browser.post(None, {"username": "x y", "email": "not-an-email", "password": "short", "confirm": "other"})
    text = shown(page)
    assert page.status_code == 400
    assert "letters, numbers" in text and "email address like" in text and "don't match" in text
    assert "Accept the Terms" in text
    page = browser.post(None, {"username": "ok.name", "email": row["email"], "password": "tooshort",
                               "confirm": "tooshort", "accept": "yes"})
    assert page.status_code == 400 and "15" in shown(page)  # identity's policy, explained


def test_a_taken_user_id_is_refused_without_a_second_account(practice, messages, browser):
    first, second = practice.patient(pin="1111"), practice.patient(pin="2222")
    for row in (first, second):
        fresh = type(browser)(browser.base)
        _signup(fresh, practice, row)
        fresh.post(None, {"method": "pin", "pin": row["pin"]})
        page = fresh.post(None, {"username": f"shared-{practice.id}", "email": row["email"], "password": PASSWORD,
                                 "confirm": PASSWORD, "accept": "yes"})
    assert page.status_code == 400 and "taken" in shown(page)


def test_identification_is_rate_limited_per_ip(practice, browser):
    row = practice.patient()
    others = [practice.patient() for _ in range(3)]
    statuses = set()
    for attempt in range(20):
        fresh = type(browser)(browser.base)
        fresh.http.headers["X-Forwarded-For"] = browser.ip
        page = _signup(fresh, practice, others[attempt % 3], birth_date="01/30/1962")
        statuses.add(page.url.rsplit("/", 1)[-1])
    assert statuses == {"prove"}  # every identification goes on to proof, found or not
    # past the limit even the right details are refused from that address, and told when to come back
    fresh = type(browser)(browser.base)
    fresh.http.headers["X-Forwarded-For"] = browser.ip
    page = _signup(fresh, practice, row)
    assert page.status_code == 429 and int(page.headers["Retry-After"]) > 0
    # while someone else, elsewhere, gets through
    assert _signup(type(browser)(browser.base), practice, row).url.endswith("/enroll/prove")


def test_a_code_read_out_by_a_voice_call_to_the_phone_on_file(practice, messages, browser):
    """Seed 003's "Receive code via: Voice": Twilio calls the number on file and reads the digits."""
    row = practice.patient()
    _signup(browser, practice, row)
    page = browser.post(None, {"method": "voice", "phone": row["phone"]})
    assert "calling it now" in shown(page)
    from tests.helpers import wait_until
    calls = wait_until(lambda: messages.twilio.sent("call", row["phone_e164"]), timeout=15)
    assert calls, "no call was placed"
    spoken = calls[-1].form.get("Twiml", "")
    readings = [re.sub(r"\D", "", said) for said in re.findall(r"Safe Health Code is: ([\d, ]+)\.", spoken)]
    code = readings[0]
    assert len(code) == 6 and readings.count(code) == len(readings) >= 2  # digit by digit, more than once
    page = browser.post("/enroll/code", {"code": code})
    assert page.url.endswith("/enroll/account")
