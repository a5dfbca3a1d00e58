"""Journey 3: five wrong passwords show the lockout message; "forgot password" resets it with a
code sent by email (through the outbox, the relay, RabbitMQ and the notifications worker to the
SMTP server); then sign-in works and the patient reaches the dashboard."""
from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.suite import body_of, code_in

LOCKOUT = "Too many sign-in attempts. For your security, sign-in is paused for 15 minutes."
WRONG = "The username or password is not right."


def test_lockout_then_password_reset_by_emailed_code_then_sign_in(browser_suite, journey, unique):
    account = browser_suite.create_account(username=unique.username, password=unique.password, email=unique.email,
                                           given_name="Eleanor", family_name="Rivera")
    browser_suite.link(account["id"], practice="riverside", patient="rv-1005", display_name="Eleanor Rivera")
    page = journey.page
    portal = browser_suite.portal_urls["riverside"]

    journey.goto(portal, "portal home")
    expect(page.get_by_role("heading", name="Welcome to Riverside Family Practice")).to_be_visible()
    journey.click("link", "Sign in")
    for attempt in range(1, 6):
        journey.sign_in_at_carekey(unique.username, f"not my password {attempt}",
                                   step="CareKey sign-in" if attempt == 1 else None)
        alert = page.get_by_role("alert")
        if attempt < 5:
            expect(alert).to_contain_text(WRONG)
    expect(page.get_by_role("alert")).to_contain_text(LOCKOUT)
    journey.check("locked out after five wrong passwords")

    journey.sign_in_at_carekey(unique.username, unique.password, step=None)
    expect(page.get_by_role("alert")).to_contain_text(LOCKOUT)  # even the right password waits now

    page.get_by_role("link", name="Forgot your password?").click()
    expect(page.get_by_role("heading", name="Forgot your password?")).to_be_visible()
    journey.check("forgot password")
    page.get_by_label("User ID or email").fill(unique.username)
    journey.click("button", "Continue")
    expect(page.get_by_role("heading", name="Enter the code")).to_be_visible()
    journey.check("enter the emailed code")

    message = browser_suite.mailbox.latest_email(unique.email, subject="Reset your")
    page.get_by_label("Code").fill(code_in(body_of(message)))
    journey.click("button", "Continue")
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    journey.check("choose a new password")
    new_password = unique.password.replace("river", "harbor")
    page.get_by_label("New password", exact=True).fill(new_password)
    page.get_by_label("New password again").fill(new_password)
    journey.click("button", "Change password")
    expect(page.get_by_role("heading", name="Your password is changed")).to_be_visible()
    journey.check("password changed")

    journey.goto(portal)
    journey.click("link", "Sign in")
    journey.sign_in_at_carekey(unique.username, new_password, step=None)
    expect(page.get_by_role("heading", name="Your health record")).to_be_visible()
    expect(page.locator("#viewing")).to_contain_text("Eleanor Rivera")
    expect(page.locator("#conditions")).to_contain_text("Essential hypertension")
    journey.check("dashboard after the reset")
