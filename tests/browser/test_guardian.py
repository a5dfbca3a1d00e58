"""Journey 4: a guardian the practice granted proxy access sees their child's records and switches
between the people on their account; a teen past the practice's age rule (14, no consent on file)
is not visible to the guardian. The records gateway applies Riverside's rules at read time."""
from __future__ import annotations

from playwright.sync_api import expect


def test_guardian_sees_their_child_switches_people_and_never_sees_the_teen(browser_suite, journey, unique):
    guardian = browser_suite.create_account(username=unique.username, password=unique.password, email=unique.email,
                                            given_name="Alex", family_name="Rivera")
    for patient, name, relationship in (("rv-1001", "Alex Rivera", "self"), ("rv-1002", "Mia Rivera", "proxy"),
                                        ("rv-1003", "Noah Rivera", "proxy")):
        browser_suite.link(guardian["id"], practice="riverside", patient=patient, display_name=name,
                           relationship=relationship)
    page = journey.page

    journey.goto(browser_suite.portal_urls["riverside"], "portal home")
    journey.click("link", "Sign in")
    journey.sign_in_at_carekey(unique.username, unique.password)
    journey.choose_person("Mia Rivera", step="whose records")

    expect(page.get_by_role("heading", level=1)).to_have_text("Mia Rivera's health record")
    expect(page.locator("#viewing")).to_contain_text("Mia Rivera")
    expect(page.locator("#viewing")).to_contain_text("(age 7)")
    expect(page.locator("#immunizations")).to_contain_text("MMR")
    expect(page.locator("#medications")).to_contain_text("amoxicillin")
    expect(page.locator("#conditions")).not_to_contain_text("Essential hypertension")  # the parent's, not hers
    people = page.get_by_role("region", name="People on your account at Riverside Family Practice")
    expect(people).to_contain_text("Alex Rivera (you)")
    expect(people).to_contain_text("Mia Rivera")
    expect(people).not_to_contain_text("Noah")
    expect(people).to_contain_text("does not share their records with you")
    assert "Noah" not in journey.main_text()
    journey.check("child's records")

    journey.click("button", "Switch person")
    journey.choose_person("Alex Rivera", step="switch person")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your health record")
    expect(page.locator("#viewing")).to_contain_text("Alex Rivera")
    expect(page.locator("#conditions")).to_contain_text("Essential hypertension")
    expect(page.locator("#immunizations")).not_to_contain_text("MMR")
    assert "Noah" not in journey.main_text()
    journey.check("guardian's own records")

    journey.click("button", "Switch person")
    journey.choose_person("Noah Rivera")  # CareKey lists every link; the practice's rules decide
    expect(page.get_by_role("heading", level=1)).to_have_text("Records not available")
    expect(page.get_by_role("alert")).to_contain_text("These records are not shared with you")
    expect(page.locator("li.record")).to_have_count(0)
    assert "Noah" not in journey.main_text()
    journey.check("teen not shared")
