"""Journeys 1 and 2, in a real browser over the running suite:

1. The office invites Alex Rivera (Riverside's roster); the invitation email arrives (the SMTP server);
   Alex identifies, proves it with the code texted to the phone on file, whose number Alex types (the
   fake Twilio), chooses a user ID and password, and lands on Riverside's portal dashboard with their
   records.
2. Alex opens Hillside's portal: no password is asked again; Hillside's records aren't connected yet,
   so Alex connects them, proving identity at Hillside with another texted code, and then sees both
   practices' records.

And identification is no oracle: someone who is no one's patient at Riverside, signing up, sees the very
pages Alex sees (the proof page, the code page) and a code that never arrives.
"""
from __future__ import annotations

import re
from datetime import date

from playwright.sync_api import expect

from services.demo.registration import born
from tests.browser.suite import body_of, code_in, link_in

ALEX_EMAIL = "alex.rivera@example.org"
ALEX_PHONE = "+15552011001"
ALEX_PHONE_AS_TYPED = "(555) 201-1001"
ALEX_BORN = born(41, 6, 12, date.today()).strftime("%m/%d/%Y")


def _identify(journey, *, given: str = "Alex", family: str = "Rivera", born: str = ALEX_BORN,
              zip_code: str = "97201", email: str | None = None) -> None:
    page = journey.page
    expect(page.get_by_role("heading", name="Tell us who you are")).to_be_visible()
    page.get_by_label("First name").fill(given)
    page.get_by_label("Last name").fill(family)
    page.get_by_label("Date of birth").fill(born)
    page.get_by_label("Zip code").fill(zip_code)
    if email:
        page.get_by_label("Email address").fill(email)
    journey.click("button", "Continue")


def _ask_for_a_texted_code(journey, phone: str, step: str | None) -> str:
    """On the proof page: a code by text to the number typed; returns the page's words."""
    page = journey.page
    expect(page.get_by_role("heading", name="Confirm it's you")).to_be_visible()
    if step:
        journey.check(f"{step}: confirm it's you")
    proof_page = journey.main_text()
    page.get_by_label("Text a code to my phone on file").check()
    page.get_by_label("Your phone number on file (for a text or call)").fill(phone)
    journey.click("button", "Continue")
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    if step:
        journey.check(f"{step}: enter the code")
    return proof_page


def _prove_with_texted_code(journey, mailbox, step: str) -> None:
    texts_before = len(mailbox.texts_to(ALEX_PHONE))
    _ask_for_a_texted_code(journey, ALEX_PHONE_AS_TYPED, step)
    code = code_in(mailbox.latest_text(ALEX_PHONE, after=texts_before))
    journey.page.get_by_label("6-digit code").fill(code)
    journey.click("button", "Confirm")


def test_invitation_to_dashboard_then_a_second_practice_without_a_password(browser_suite, journey, unique):
    suite, page = browser_suite, journey.page
    riverside, hillside = suite.portal_urls["riverside"], suite.portal_urls["hillside"]

    # 1. the office invites; the email arrives with a single-use link
    emails_before = len(suite.mailbox.emails_to(ALEX_EMAIL))
    suite.cli("registration", "registration", "invite", "--practice", "riverside", "--mrn", "rv-1001")
    invitation = suite.mailbox.latest_email(ALEX_EMAIL, subject="invites you", after=emails_before)
    link = link_in(body_of(invitation), "/invite/")

    journey.goto(link, "invitation: identification")
    _identify(journey)
    _prove_with_texted_code(journey, suite.mailbox, "riverside")

    expect(page.get_by_role("heading", name="Create your CareKey account")).to_be_visible()
    journey.check("create the account")
    page.get_by_label("User ID").fill(unique.username)
    page.get_by_label("Email address").fill(unique.email)
    page.get_by_label("Password", exact=True).fill(unique.password)
    page.get_by_label("Type the password again").fill(unique.password)
    page.locator("#accept").check()
    journey.click("button", "Create account")

    expect(page.get_by_role("heading", name="You're all set")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Riverside Family Practice")
    journey.check("registered")
    journey.click("button", "Continue to Riverside Family Practice")

    expect(page).to_have_url(f"{riverside}/dashboard")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your health record")
    expect(page.locator('li.record[data-practice="riverside"]').first).to_be_visible()
    expect(page.locator("#conditions")).to_contain_text("Essential hypertension")
    journey.check("riverside dashboard")
    welcome = suite.mailbox.latest_email(unique.email, subject="linked")
    assert unique.username in body_of(welcome)
    # the invitation link worked once
    journey.goto(link)
    expect(page.get_by_role("heading", name="This invitation link can't be used")).to_be_visible()
    journey.check("used invitation link")

    # 2. Hillside: signed in already (no password), connect that practice with a texted code
    journey.goto(hillside, "hillside home")
    journey.click("link", "Sign in")
    expect(page).to_have_url(f"{hillside}/dashboard")
    expect(page.get_by_role("heading", name="Connect your CareKey account to Hillside Medical Group")).to_be_visible()
    journey.check("hillside: not connected yet")
    journey.click("link", "Connect to Hillside Medical Group")
    _identify(journey)  # straight to identification: single sign-on, no password
    _prove_with_texted_code(journey, suite.mailbox, "hillside")
    expect(page.get_by_role("heading", name="You're all set")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Hillside Medical Group")
    expect(page.locator("main")).to_contain_text("Riverside Family Practice")  # the practices it reaches
    journey.check("hillside connected")
    journey.click("button", "Continue to Hillside Medical Group")

    expect(page).to_have_url(re.compile(rf"^{re.escape(hillside)}/dashboard"))
    expect(page.locator('li.record[data-practice="hillside"]').first).to_be_visible()
    expect(page.locator('li.record[data-practice="riverside"]').first).to_be_visible()  # both practices
    expect(page.locator("#viewing")).to_contain_text("Hillside Medical Group")
    journey.check("hillside dashboard with both practices")
    assert "Sign in" not in [h.inner_text() for h in page.get_by_role("heading").all()]


def test_someone_who_is_no_ones_patient_sees_the_pages_a_patient_sees(browser_suite, journey, unique):
    suite, page = browser_suite, journey.page
    signup = f"{suite.urls['registration']}/practices/riverside/signup"
    seen = {}
    for who, details, phone in (("nobody", dict(given="Casey", family="Nobodyhere", born="02/03/1971",
                                                email=unique.email), "(555) 010-4477"),
                                ("alex", dict(email=ALEX_EMAIL), ALEX_PHONE_AS_TYPED)):
        texts_before = len(suite.mailbox.texts_to(ALEX_PHONE))
        journey.goto(signup, f"{who}: sign up" if who == "nobody" else None)
        _identify(journey, **details)
        proof_page = _ask_for_a_texted_code(journey, phone, "no one's patient" if who == "nobody" else None)
        seen[who] = (page.url, proof_page, journey.main_text())
        if who == "alex":
            suite.mailbox.latest_text(ALEX_PHONE, after=texts_before)  # Alex's code did arrive
        else:
            page.get_by_label("6-digit code").fill("123456")
            journey.click("button", "Confirm")
            expect(page.get_by_role("alert")).to_contain_text("That code isn't right")
            journey.check("no one's patient: a code that never works")
    assert seen["nobody"] == seen["alex"]
    assert suite.mailbox.texts_to("+15550104477") == []
