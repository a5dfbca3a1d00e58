"""Journeys 1 and 2, in a real browser over the running suite:

1. The office invites Alex Rivera (Riverside's roster); the invitation email arrives (the SMTP server);
   Alex identifies, proves it with the code texted to the phone on file (the fake Twilio), chooses a
   user ID and password, and lands on Riverside's portal dashboard with their records.
2. Alex opens Hillside's portal: no password is asked again; Hillside's records aren't connected yet,
   so Alex connects them, proving identity at Hillside with another texted code, and then sees both
   practices' records.
"""
from __future__ import annotations

import re
from datetime import date

from playwright.sync_api import expect

from services.registration.demo import born
from tests.browser.suite import body_of, code_in, link_in

ALEX_EMAIL = "alex.rivera@example.org"
ALEX_PHONE = "+15552011001"
ALEX_BORN = born(41, 6, 12, date.today()).strftime("%m/%d/%Y")


def _identify(journey, *, zip_code: str = "97201") -> None:
    page = journey.page
    expect(page.get_by_role("heading", name="Tell us who you are")).to_be_visible()
    page.get_by_label("First name").fill("Alex")
    page.get_by_label("Last name").fill("Rivera")
    page.get_by_label("Date of birth").fill(ALEX_BORN)
    page.get_by_label("Zip code").fill(zip_code)
    journey.click("button", "Continue")


def _prove_with_texted_code(journey, mailbox, step: str) -> None:
    page = journey.page
    expect(page.get_by_role("heading", name="Confirm it's you")).to_be_visible()
    journey.check(f"{step}: confirm it's you")
    texts_before = len(mailbox.texts_to(ALEX_PHONE))
    page.get_by_label("Text a code to my phone on file").check()
    journey.click("button", "Continue")
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    journey.check(f"{step}: enter the code")
    code = code_in(mailbox.latest_text(ALEX_PHONE, after=texts_before))
    page.get_by_label("6-digit code").fill(code)
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
