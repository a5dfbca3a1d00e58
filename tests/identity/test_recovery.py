"""Forgotten password and forgotten user ID, end to end: the codes travel the real message path
(identity's outbox → relay → broker → notifications worker → SMTP) and are read from the email."""
from __future__ import annotations

import dataclasses
import re
import threading
import uuid
from datetime import date

import pytest

from services import registry
from services.notifications.worker import build_consumer
from shared.database import make_session_factory
from shared.messaging.broker import connect
from shared.messaging.outbox import OutboxRelay
from shared.messaging.topology import WorkQueue
from tests.fakes.smtp import FakeSmtp
from tests.helpers import wait_until
from tests.identity.conftest import PASSWORD, Browser, callback_params
from tests.identity.steps import login_and_exchange, refresh

NEW_PASSWORD = "a completely new and long passphrase"


@pytest.fixture
def mail(suite):
    """A running relay (identity's outbox) and notifications worker delivering to a real SMTP server."""
    smtp = FakeSmtp().start()
    queue = WorkQueue(f"test.recovery.{uuid.uuid4().hex[:8]}", routing_keys=("notification.requested",),
                      backoff=(0.2,))
    settings = dataclasses.replace(suite.settings["notifications"], email_backend="smtp", smtp_port=smtp.port,
                                   per_recipient_hour=100, per_recipient_day=100)
    stop = threading.Event()
    relay = OutboxRelay(make_session_factory(suite.engines["identity"]), registry.outbox("identity"),
                        suite.backends.amqp_url, queues=queue.all_queues(), idle_seconds=0.05)
    consumer = build_consumer(settings, queue=queue)
    threads = [threading.Thread(target=relay.run, args=(stop,), daemon=True),
               threading.Thread(target=consumer.run, daemon=True)]
    for thread in threads:
        thread.start()
    yield smtp
    stop.set()
    consumer.should_stop = True
    for thread in threads:
        thread.join(timeout=15)
    with connect(suite.backends.amqp_url) as conn:
        for declared in queue.all_queues():
            declared(conn.default_channel).delete()
    smtp.stop()


def latest_email(smtp: FakeSmtp, address: str, subject_part: str, count: int = 1) -> str:
    assert wait_until(lambda: len([m for m in smtp.to(address) if subject_part in m["Subject"]]) >= count,
                      timeout=20), f"no '{subject_part}' email for {address}"
    message = [m for m in smtp.to(address) if subject_part in m["Subject"]][-1]
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    return part.get_payload(decode=True).decode()


def code_in(text: str) -> str:
    return re.search(r"\b(\d{6})\b", text).group(1)


def post(browser: Browser, url: str, **data):
    return browser.http.post(url, data={**data, "csrf_token": browser.csrf()})


def test_forgotten_password_reset_with_an_emailed_code(identity_app, make_client, make_account, api, mail):
    client = make_client()
    account = make_account(email=f"reset-{uuid.uuid4().hex[:6]}@example.org")
    before, _ = login_and_exchange(Browser(identity_app), api, client, account)
    browser = Browser(identity_app)
    browser.http.get("/recover/password")
    started = post(browser, "/recover/password", identifier=account.username)
    flow_url = started.headers["Location"]
    code = code_in(latest_email(mail, account.email, "Reset your CareKey password"))
    assert post(browser, flow_url, code="000000").status_code == 400
    assert post(browser, flow_url, code=code).status_code == 303
    weak = post(browser, flow_url, password="password", confirm="password")
    assert weak.status_code == 400 and "breach" in weak.get_data(as_text=True)
    done = browser.follow(post(browser, flow_url, password=NEW_PASSWORD, confirm=NEW_PASSWORD))
    assert "Your password is changed" in done.get_data(as_text=True)
    assert "password was changed" in latest_email(mail, account.email, "password changed")
    assert refresh(api, client, before["refresh_token"]).json["error"] == "invalid_grant", \
        "every refresh token dies with a reset"
    fresh = Browser(identity_app)
    page = fresh.follow(fresh.authorize(client)[0])
    assert fresh.login(page, account.username, PASSWORD).status_code == 401
    assert "code" in callback_params(fresh.follow(fresh.login(page, account.username, NEW_PASSWORD)))


def test_unknown_and_known_addresses_get_the_same_pages(identity_app, make_account, mail):
    account = make_account(email=f"known-{uuid.uuid4().hex[:6]}@example.org")
    pages = []
    for identifier in (account.email, f"nobody-{uuid.uuid4().hex[:6]}@example.org"):
        browser = Browser(identity_app)
        browser.http.get("/recover/password")
        started = post(browser, "/recover/password", identifier=identifier)
        code_page = browser.http.get(started.headers["Location"])
        wrong = post(browser, started.headers["Location"], code="123456")
        pages.append((started.status_code, code_page.status_code, wrong.status_code,
                      re.sub(r'(/recover/[^"]+|value="[^"]{20,}")', "X", wrong.get_data(as_text=True))))
    assert pages[0] == pages[1]


def test_five_wrong_codes_end_the_flow_and_resends_do_not_reset_them(identity_app, make_account, mail):
    account = make_account(email=f"tries-{uuid.uuid4().hex[:6]}@example.org")
    browser = Browser(identity_app)
    browser.http.get("/recover/password")
    flow_url = post(browser, "/recover/password", identifier=account.username).headers["Location"]
    latest_email(mail, account.email, "Reset")
    for _ in range(4):
        post(browser, flow_url, code="111111")
    post(browser, flow_url, action="resend")
    code = code_in(latest_email(mail, account.email, "Reset", count=2))
    post(browser, flow_url, code="222222")  # the fifth attempt
    assert post(browser, flow_url, code=code).status_code == 400, "the sixth attempt fails even with the right code"


def test_forgotten_user_id_by_email_date_of_birth_and_code(identity_app, make_account, mail):
    email = f"who-{uuid.uuid4().hex[:6]}@example.org"
    account = make_account(email=email, birth_date=date(1980, 4, 2))
    browser = Browser(identity_app)
    browser.http.get("/recover/user-id")
    asks_birth_date = post(browser, "/recover/user-id", email=email)
    assert "date of birth" in asks_birth_date.get_data(as_text=True)
    started = post(browser, "/recover/user-id", email=email, birth_date="1980-04-02")
    code = code_in(latest_email(mail, email, "verification code"))
    done = browser.follow(post(browser, started.headers["Location"], code=code))
    assert "We emailed your user ID" in done.get_data(as_text=True)
    assert account.username in latest_email(mail, email, "user ID")


def test_second_factor_still_required_for_a_reset(identity_app, make_client, make_account, mail):
    from tests.identity.test_second_factor import enrol, next_code
    client = make_client()
    account = make_account(email=f"mfa-{uuid.uuid4().hex[:6]}@example.org")
    secret, _ = enrol(Browser(identity_app), client, account)
    browser = Browser(identity_app)
    browser.http.get("/recover/password")
    flow_url = post(browser, "/recover/password", identifier=account.username).headers["Location"]
    code = code_in(latest_email(mail, account.email, "Reset"))
    post(browser, flow_url, code=code)
    asks = browser.http.get(flow_url)
    assert "authenticator code" in asks.get_data(as_text=True)
    assert post(browser, flow_url, password=NEW_PASSWORD, confirm=NEW_PASSWORD).status_code in (303, 400)
    assert "authenticator code" in browser.http.get(flow_url).get_data(as_text=True), "no skipping the factor"
    post(browser, flow_url, code=next_code(secret))
    assert "Choose a new password" in browser.http.get(flow_url).get_data(as_text=True)


def test_security_question_is_asked_in_addition_to_the_code(identity_app, make_client, make_account, mail,
                                                             identity_db):
    from services.identity.db.models import SecurityAnswer
    from services.identity.domain.security_questions import QUESTIONS
    client = make_client()
    account = make_account(email=f"q-{uuid.uuid4().hex[:6]}@example.org")
    owner = Browser(identity_app)
    owner.sign_in(client, account.username)
    assert post(owner, "/account/security/questions", question=QUESTIONS[0], answer="Sainte-Anne's  School").status_code == 303
    with identity_db() as session:
        stored = session.get(SecurityAnswer, (account.id, QUESTIONS[0]))
    assert "sainte" not in stored.answer_hash.lower() and stored.answer_hash.startswith("$argon2id$")
    browser = Browser(identity_app)
    browser.http.get("/recover/password")
    flow_url = post(browser, "/recover/password", identifier=account.username).headers["Location"]
    post(browser, flow_url, code=code_in(latest_email(mail, account.email, "Reset")))
    asked = browser.http.get(flow_url).get_data(as_text=True)
    assert QUESTIONS[0].replace("'", "&#39;") in asked
    assert post(browser, flow_url, answer="st mary").status_code == 400
    assert post(browser, flow_url, answer="sainte anne's school").status_code == 303
    assert "Choose a new password" in browser.http.get(flow_url).get_data(as_text=True)


def test_reset_code_by_text_to_the_confirmed_phone(identity_app, make_client, make_account, identity_db):
    from tests.identity.test_contact_and_phone_codes import confirm_phone, last_code
    client, account = make_client(), make_account()
    owner = Browser(identity_app)
    owner.sign_in(client, account.username)
    confirm_phone(owner, identity_db, "+15555550177")
    browser = Browser(identity_app)
    browser.http.get("/recover/password")
    flow_url = post(browser, "/recover/password", identifier=account.username, channel="sms").headers["Location"]
    assert "phone" in browser.http.get(flow_url).get_data(as_text=True)
    assert post(browser, flow_url, code=last_code(identity_db, "password_reset", phone="+15555550177")).status_code == 303
    assert "Choose a new password" in browser.http.get(flow_url).get_data(as_text=True)


def test_a_reset_lifts_the_sign_in_pause_it_was_offered_for(identity_app, make_client, make_account, mail):
    """The lockout page says "you can also reset your password": after a reset from the same place,
    the new password signs in at once; the old one, and other pairs' pauses, are not affected."""
    from tests.identity.test_lockout import WRONG, attempt
    client = make_client()
    account = make_account(email=f"paused-{uuid.uuid4().hex[:6]}@example.org")
    here = "127.0.0.1"  # where the test client's requests come from, the reset included
    for _ in range(5):
        attempt(Browser(identity_app), client, account.username, WRONG, ip=here)
    assert attempt(Browser(identity_app), client, account.username, PASSWORD, ip=here).status_code == 429
    for _ in range(5):
        attempt(Browser(identity_app), client, account.username, WRONG, ip="10.7.7.7")
    browser = Browser(identity_app)
    browser.http.get("/recover/password")
    flow_url = post(browser, "/recover/password", identifier=account.username).headers["Location"]
    code = code_in(latest_email(mail, account.email, "Reset your CareKey password"))
    assert post(browser, flow_url, code=code).status_code == 303
    browser.follow(post(browser, flow_url, password=NEW_PASSWORD, confirm=NEW_PASSWORD))
    assert attempt(Browser(identity_app), client, account.username, NEW_PASSWORD, ip=here).status_code == 303
    assert attempt(Browser(identity_app), client, account.username, NEW_PASSWORD, ip="10.7.7.7").status_code == 429, \
        "a pause elsewhere (someone else guessing from another network) still runs its course"
