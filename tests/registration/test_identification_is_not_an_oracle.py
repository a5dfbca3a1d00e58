"""Identification is not an oracle: whoever fills the identification form — a patient, someone close to
one, someone who is no one's patient — gets the same answers (status, redirects, cookies, pages) all the
way through proof; a miss shows only as a code that never arrives and never works, even the right PIN or
the very code that was made for it. The practice's audit trail still says what really happened."""
from __future__ import annotations

import json
import uuid
from datetime import date
from http.cookies import SimpleCookie

import pytest
from sqlalchemy import func, select

from services.registration.db.models import AuditEvent, outbox
from shared.messaging import notifications
from tests.registration.conftest import (CSRF, PatientBrowser, email_text, latest_email, latest_text, shown,
                                         six_digits)

NOBODY = {"given_name": "Casey", "family_name": "Nobodyhere", "birth_date": "1970-01-01", "zip": "97201"}
WITHHELD_PHONE = "+10000000000"


def _shape(response) -> str:
    """A page as anyone would compare it: the CSRF token (different for every visitor) left out."""
    return CSRF.sub('name="csrf_token" value=""', response.text)


def _cookies(response) -> list[tuple[str, tuple]]:
    """The cookies a response sets: names and attributes (the values are each visitor's own)."""
    found = []
    for header in response.raw.headers.getlist("Set-Cookie"):
        for name, morsel in SimpleCookie(header).items():
            found.append((name, tuple(sorted((k, str(v)) for k, v in morsel.items() if v))))
    return sorted(found)


def _step(browser: PatientBrowser, path: str | None, data: dict):
    """Submit a form without following the redirect: what the server answered, as such."""
    return browser.post(path, data, allow_redirects=False)


def _walk(browser: PatientBrowser, practice, person: dict, phone: str) -> list:
    """Sign-up, identification, the proof page, a texted code asked for, the code page, a wrong code."""
    answers = [browser.get(f"/practices/{practice.id}/signup")]
    born = date.fromisoformat(person["birth_date"]).strftime("%m/%d/%Y")
    answers.append(_step(browser, None, {"given_name": person["given_name"], "family_name": person["family_name"],
                                         "birth_date": born, "zip": person["zip"], "email": "me@mail.example"}))
    answers.append(browser.get(answers[-1].headers["Location"]))
    answers.append(_step(browser, None, {"method": "sms", "phone": phone}))
    answers.append(browser.get(answers[-1].headers["Location"]))
    answers.append(_step(browser, None, {"code": "000000"}))
    return answers


def _withheld_codes(registration_server) -> list[dict]:
    """The payloads of withheld code requests in registration's outbox (written, never to be sent)."""
    with registration_server.app.extensions["carekey.sessions"]() as session:
        rows = session.execute(select(outbox.c.body, outbox.c.created_at, outbox.c.published_at)
                               .where(outbox.c.type == notifications.EVENT_TYPE).order_by(outbox.c.created_at)).all()
    found = []
    for body, created, published in rows:
        payload = json.loads(body)["payload"]
        if payload["recipient"] in ({"phone": WITHHELD_PHONE}, {"email": "withheld@carekey.invalid"}):
            assert published == created  # recorded as published when written: the relay never sends it
            found.append(payload)
    return found


def _audit(registration_server, practice_id: str, action: str) -> list[AuditEvent]:
    with registration_server.app.extensions["carekey.sessions"]() as session:
        return session.scalars(select(AuditEvent).where(AuditEvent.practice_id == practice_id,
                                                        AuditEvent.action == action).order_by(AuditEvent.id)).all()


def test_a_patient_someone_close_and_no_one_get_the_same_answers_all_the_way(practice, messages,
                                                                             registration_server):
    row = practice.patient()
    people = {"patient": (row, row["phone"]),
              "a middle name in the first-name box (probable)": (dict(row, given_name=f"{row['given_name']} Jordan"),
                                                                row["phone"]),
              "wrong birth date": (dict(row, birth_date="1962-01-30"), row["phone"]),
              "no one's patient": (NOBODY, "(555) 010-4477")}
    walks = {who: _walk(PatientBrowser(registration_server.url), practice, person, phone)
             for who, (person, phone) in people.items()}
    patient = walks.pop("patient")
    assert [r.status_code for r in patient] == [200, 303, 200, 303, 200, 400]
    assert patient[1].headers["Location"].endswith("/enroll/prove")
    assert patient[3].headers["Location"].endswith("/enroll/code")
    for who, walk in walks.items():
        for mine, theirs in zip(patient, walk):
            assert (theirs.status_code, theirs.headers.get("Location")) == (mine.status_code,
                                                                             mine.headers.get("Location")), who
            assert _cookies(theirs) == _cookies(mine), who
            assert _shape(theirs) == _shape(mine), who
    assert "we've texted a code" in shown(patient[4])
    # only the patient's phone got a code; the one typed by no one's patient got nothing
    assert latest_text(messages, row["phone_e164"])  # waits for the delivery
    assert messages.twilio.sent("message", "+15550104477") == []
    # the practice's audit trail knows who was found (never shown to the person)
    outcomes = [(e.outcome, e.details.get("grade")) for e in _audit(registration_server, practice.id, "identify")]
    assert outcomes == [("matched", "certain"), ("matched", "probable"), ("no_match", None), ("no_match", None)]
    sends = [(e.outcome, e.details.get("reason"), e.details.get("decoy")) for e in
             _audit(registration_server, practice.id, "code_send")]
    assert sends == [("sent", None, None), ("sent", None, None), ("withheld", "no_candidate", True),
                     ("withheld", "no_candidate", True)]


def test_a_decoy_never_proves_not_even_with_its_own_code_or_the_patients_pin(practice, messages, browser,
                                                                              registration_server):
    row = practice.patient(pin="8642")
    browser.get(f"/practices/{practice.id}/signup")
    page = browser.identify(row, birth_date="01/30/1962", email=row["email"])  # the patient, a wrong birth date
    assert page.url.endswith("/enroll/prove")
    page = browser.post(None, {"method": "pin", "pin": "8642"})  # the record's real PIN
    assert page.status_code == 400 and "PIN didn't match" in shown(page)
    before = len(_withheld_codes(registration_server))
    page = browser.post(None, {"method": "sms", "phone": row["phone"]})
    assert page.url.endswith("/enroll/code")
    withheld = _withheld_codes(registration_server)
    assert len(withheld) == before + 1
    made = withheld[-1]["variables"]["code"]  # the code this decoy made, read from the database
    assert len(made) == 6
    page = browser.post(None, {"code": made})
    assert page.status_code == 400 and "isn't right" in shown(page)
    assert messages.twilio.sent("message", row["phone_e164"]) == []   # nothing reached the patient
    assert messages.twilio.sent("message", WITHHELD_PHONE) == []
    # a resend stays withheld and its code fails as well
    page = browser.post("/enroll/code/resend", {})
    assert page.status_code == 200 and "new code" in shown(page)
    page = browser.post("/enroll/code", {"code": _withheld_codes(registration_server)[-1]["variables"]["code"]})
    assert page.status_code == 400
    # wrong answers count as they do for anyone: two more and the decoy is locked like any enrollment
    for _ in range(2):
        page = browser.post("/enroll/code", {"code": "123456"})
    assert page.status_code == 429 and "Too many attempts" in page.text and int(page.headers["Retry-After"]) > 0


def test_a_code_for_a_patient_and_for_a_decoy_cost_the_same_writes(practice, messages, registration_server):
    """Equal work on both branches: each send writes one outbox row (the decoy's never published)."""
    row = practice.patient()

    def rows() -> int:
        with registration_server.app.extensions["carekey.sessions"]() as session:
            return session.scalar(select(func.count()).select_from(outbox))

    for person in (row, NOBODY):
        browser = PatientBrowser(registration_server.url)
        browser.get(f"/practices/{practice.id}/signup")
        browser.identify(person, email="me@mail.example")
        before = rows()
        browser.post(None, {"method": "sms", "phone": row["phone"]})
        assert rows() == before + 1


def test_the_invitation_path_answers_wrong_details_as_it_answers_the_right_ones(operator, practice, messages,
                                                                               registration_server):
    from tests.registration.test_invitation_journey import _invite, _link_and_code
    row = practice.patient(pin="2468")
    _invite(operator, practice, row)
    link, _ = _link_and_code(messages, row["email"])
    right, wrong = PatientBrowser(registration_server.url), PatientBrowser(registration_server.url)
    answers = []
    for browser, person in ((right, row), (wrong, dict(row, given_name="Jordan"))):
        browser.get(link)
        identified = browser.identify(person)
        answers.append(identified)
    assert answers[0].url == answers[1].url and answers[0].url.endswith("/enroll/prove")
    assert _shape(answers[0]) == _shape(answers[1])
    # the wrong details go nowhere, even with the record's PIN; changing them to the right ones works
    page = wrong.post(None, {"method": "pin", "pin": "2468"})
    assert page.status_code == 400
    page = wrong.post("/enroll/change", {})
    assert page.url.endswith("/enroll/identify") and "Tell us who you are" in page.text
    page = wrong.identify(row)
    page = wrong.post(None, {"method": "pin", "pin": "2468"})
    assert page.url.endswith("/enroll/account"), shown(page)[:300]


def test_identifications_are_limited_per_enrollment_alike(operator, practice, messages, registration_server):
    from tests.registration.test_invitation_journey import _invite, _link_and_code
    row = practice.patient()
    _invite(operator, practice, row)
    link, _ = _link_and_code(messages, row["email"])
    browser = PatientBrowser(registration_server.url)
    browser.get(link)
    for _ in range(5):
        page = browser.identify(row, given_name="Jordan")
        assert page.url.endswith("/enroll/prove")
        page = browser.post("/enroll/change", {})
    assert page.status_code == 429 and "Too many attempts" in page.text
    assert 0 < int(page.headers["Retry-After"]) <= 30 * 60


def test_a_close_match_proves_only_by_the_phone_on_file_that_the_person_types(practice, messages, browser,
                                                                              registration_server):
    """Seed 001's "Verify by phone number": a middle name typed into the first-name box (one of several
    given names) is close enough to try, not to use email or the PIN;
    the page offers the same choices as to anyone, and only the phone on file, typed, gets the code."""
    row = practice.patient(pin="1357")
    browser.get(f"/practices/{practice.id}/signup")
    page = browser.identify(row, given_name=f"{row['given_name']} Jordan", email=row["email"])
    assert page.url.endswith("/enroll/prove")
    assert "Email a code" in page.text and "PIN" in page.text  # the same choices as everyone's
    assert browser.post(None, {"method": "pin", "pin": "1357"}).status_code == 400
    page = browser.post(None, {"method": "email"})
    assert page.url.endswith("/enroll/code") and "emailed a code" in shown(page)
    page = browser.get("/enroll/prove")
    page = browser.post(None, {"method": "sms", "phone": "(555) 000-1111"})  # not the number on file
    assert page.url.endswith("/enroll/code")
    page = browser.get("/enroll/prove")
    page = browser.post(None, {"method": "sms", "phone": row["phone"]})
    code = six_digits(latest_text(messages, row["phone_e164"]))
    assert len(messages.twilio.sent("message", row["phone_e164"])) == 1
    assert messages.twilio.sent("message", "+15550001111") == []
    assert messages.smtp.to(row["email"]) == []  # the email was withheld
    page = browser.post(None, {"code": code})
    assert page.url.endswith("/enroll/account")
    assert [(e.outcome, e.details.get("channel"), e.details.get("reason"))
            for e in _audit(registration_server, practice.id, "code_send")] == [
        ("withheld", "email", "probable_proves_by_phone_only"), ("withheld", "sms", "not_the_phone_on_file"),
        ("sent", "sms", None)]


@pytest.mark.parametrize("given", ["", "12"])
def test_a_missing_or_malformed_phone_is_asked_for_again_for_everyone(practice, browser, given):
    browser.get(f"/practices/{practice.id}/signup")
    browser.identify(NOBODY, email="me@mail.example")
    page = browser.post(None, {"method": "voice", "phone": given})
    assert page.status_code == 400 and "phone number your practice has on file" in shown(page)


def test_a_record_with_an_unknown_birth_date_proves_only_by_its_phone(operator, practice, messages, browser):
    """A roster entry imported with its date of birth unknown is never "certain": the PIN and email are
    withheld from it as from any probable match; a code to the phone on file, typed, still proves it."""
    row = practice.patient(birth_date="", pin="9753", email=f"alex.{uuid.uuid4().hex[:8]}@mail.example")
    assert operator.call("GET", f"/api/practices/{practice.id}/roster/{row['mrn']}").json()["birth_date"] is None
    browser.get(f"/practices/{practice.id}/signup")
    # name, zip and the email on file: enough for probable without a date of birth (never for certain)
    browser.identify(row | {"birth_date": "1985-06-12"}, email=row["email"])
    assert browser.post(None, {"method": "pin", "pin": "9753"}).status_code == 400
    browser.post(None, {"method": "sms", "phone": row["phone"]})
    page = browser.post(None, {"code": six_digits(latest_text(messages, row["phone_e164"]))})
    assert page.url.endswith("/enroll/account")
    audit = operator.call("GET", f"/api/practices/{practice.id}/audit?action=identify").json()
    assert audit[0]["outcome"] == "matched" and audit[0]["details"]["grade"] == "probable"


def test_an_email_code_reaches_a_certain_match_only(practice, messages, browser):
    row = practice.patient()
    browser.get(f"/practices/{practice.id}/signup")
    browser.identify(row, email=row["email"])
    browser.post(None, {"method": "email"})
    page = browser.post(None, {"code": six_digits(email_text(latest_email(messages, row["email"])))})
    assert page.url.endswith("/enroll/account")


def test_every_429_says_when_to_come_back(practice, messages, browser, registration_server):
    row = practice.patient()
    browser.get(f"/practices/{practice.id}/signup")
    browser.identify(row, email=row["email"])
    browser.post(None, {"method": "sms", "phone": row["phone"]})
    answers = [browser.post("/enroll/code/resend", {}) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert 0 < int(answers[-1].headers["Retry-After"]) <= 30 * 60
    page = browser.get("/enroll/prove")
    page = browser.post(None, {"method": "sms", "phone": row["phone"]})
    assert page.status_code == 429 and int(page.headers["Retry-After"]) > 0
    # per address: the 21st identification in 15 minutes from one network, whoever it names
    network = PatientBrowser(registration_server.url).ip
    for _ in range(21):
        other = PatientBrowser(registration_server.url)
        other.http.headers["X-Forwarded-For"] = network
        other.get(f"/practices/{practice.id}/signup")
        page = other.identify(NOBODY if _ % 2 else row, email="me@mail.example")
    assert page.status_code == 429 and "too many attempts from your network" in shown(page)
    assert 0 < int(page.headers["Retry-After"]) <= 15 * 60
