"""A patient signed in at a practice whose records their account is not connected to yet sees a
clear "Connect your CareKey account to <practice>" call to action (into registration), and meanwhile
their records from the practices they are connected to."""
from __future__ import annotations

from playwright.sync_api import expect


def test_a_practice_not_yet_connected_offers_to_connect_and_shows_the_other_practices_records(
        browser_suite, journey, unique):
    account = browser_suite.create_account(username=unique.username, password=unique.password, email=unique.email,
                                           given_name="Eleanor", family_name="Rivera")
    browser_suite.link(account["id"], practice="riverside", patient="rv-1005", display_name="Eleanor Rivera")
    page = journey.page

    journey.goto(browser_suite.portal_urls["hillside"], "hillside home")
    journey.click("link", "Sign in")
    journey.sign_in_at_carekey(unique.username, unique.password)
    connect = page.get_by_role("region", name="Connect your CareKey account to Hillside Medical Group")
    expect(connect).to_be_visible()
    expect(connect.get_by_role("link", name="Connect to Hillside Medical Group")).to_have_attribute(
        "href", f"{browser_suite.urls['registration']}/practices/hillside/connect")
    expect(page.get_by_role("heading", name="Your records at your other practices")).to_be_visible()
    expect(page.locator('li.record[data-practice="hillside"]')).to_have_count(0)
    riverside_records = page.locator('li.record[data-practice="riverside"]')
    expect(riverside_records.first).to_contain_text("Riverside Family Practice")
    expect(page.locator("#conditions")).to_contain_text("Essential hypertension")
    journey.check("connect call to action")
