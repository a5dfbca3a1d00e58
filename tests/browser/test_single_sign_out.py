"""Journey 5: signing out of one portal signs the patient out of the other. Sign-in at the second
portal asks for no password (single sign-on); "Sign out" there ends the CareKey session, which
sends a back-channel logout token to the first portal, whose own session (kept server-side, by
CareKey's sid, shared by its gunicorn workers) ends at once."""
from __future__ import annotations

import re

from playwright.sync_api import expect


def test_signing_out_of_one_portal_signs_out_of_the_other(browser_suite, journey, unique):
    patient = browser_suite.create_account(username=unique.username, password=unique.password, email=unique.email,
                                           given_name="Alex", family_name="Rivera")
    browser_suite.link(patient["id"], practice="riverside", patient="rv-1001", display_name="Alex Rivera")
    browser_suite.link(patient["id"], practice="hillside", patient="hs-2001", display_name="Alex Rivera")
    riverside, hillside = browser_suite.portal_urls["riverside"], browser_suite.portal_urls["hillside"]
    page = journey.page

    journey.goto(riverside, "riverside home")
    journey.click("link", "Sign in")
    journey.sign_in_at_carekey(unique.username, unique.password)
    expect(page.get_by_role("heading", level=1)).to_have_text("Your health record")
    expect(page.locator('li.record[data-practice="riverside"]').first).to_be_visible()
    expect(page.locator('li.record[data-practice="hillside"]').first).to_be_visible()  # both practices' records
    expect(page.locator("header")).to_contain_text("Signed in as Alex Rivera")
    journey.check("riverside dashboard")

    journey.goto(hillside, "hillside home")
    journey.click("link", "Sign in")  # single sign-on: straight back with no password asked
    expect(page).to_have_url(f"{hillside}/dashboard")
    expect(page.locator("#viewing")).to_contain_text("Hillside Medical Group")
    journey.check("hillside dashboard without a password")

    journey.click("button", "Sign out")
    expect(page).to_have_url(re.compile(rf"^{re.escape(hillside)}/signed-out(\?state=[\w-]+)?$"))
    expect(page.get_by_role("heading", name="You are signed out")).to_be_visible()
    journey.check("signed out of hillside")

    journey.goto(riverside)  # the back-channel logout already ended this portal's session
    expect(page.get_by_role("heading", name="Welcome to Riverside Family Practice")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    journey.check("riverside home, signed out")
    journey.goto(f"{riverside}/dashboard")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()  # CareKey asks for the password again
    journey.check("riverside asks to sign in again")
