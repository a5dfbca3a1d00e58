"""Delivering email (SMTP), text and voice (Twilio) once, with retries, dead letters and limits."""
from __future__ import annotations

import re
from datetime import timedelta

from tests.fakes.twilio import FROM_NUMBER
from tests.notifications.conftest import dead_letters, notification, wait_for_status


def test_email_arrives_once_as_text_and_html_with_stable_message_id(smtp, worker, publish, state):
    worker()
    request = notification("email", "verification_code", variables={"code": "482913", "minutes": 10,
                                                                     "practice_name": "Riverside"})
    to = request["payload"]["recipient"]["email"]
    publish(request)
    assert wait_for_status(state, request["id"], "sent")
    [message] = smtp.to(to)
    assert message["Subject"] == "Your CareKey verification code"
    assert message["Message-ID"] == f"<{request['id']}@carekey>"
    parts = {part.get_content_type(): part.get_payload(decode=True).decode() for part in message.walk()
             if not part.is_multipart()}
    assert "482913" in parts["text/plain"] and "482913" in parts["text/html"]
    assert "Riverside" in parts["text/plain"]
    row = state(request["id"])
    assert row.attempts == 1 and row.provider_ref and row.sent_at and "482913" not in repr(vars(row))
    assert row.recipient_hint.endswith("@example.org") and to not in repr(vars(row)), "no address kept"


def test_redelivered_request_is_not_sent_twice(smtp, worker, publish, state):
    worker()
    request = notification("email")
    publish(request)
    assert wait_for_status(state, request["id"], "sent")
    publish(request)
    publish(request)
    wait_for_status(state, request["id"], "never", timeout=1.5)
    assert len(smtp.to(request["payload"]["recipient"]["email"])) == 1


def test_a_worker_sends_its_emails_on_one_smtp_connection_and_quits_when_it_stops(smtp, worker, publish, state):
    running = worker()
    requests = [notification("email") for _ in range(5)]
    publish(*requests)
    assert all(wait_for_status(state, request["id"], "sent") for request in requests)
    assert smtp.connections == 1 and len(smtp.messages) == 5
    running.stop()
    assert smtp.quits == 1


def test_sms_is_short_and_goes_through_twilio(twilio, worker, publish, state, settings):
    worker()
    request = notification("sms", "verification_code")
    to = request["payload"]["recipient"]["phone"]
    publish(request)
    assert wait_for_status(state, request["id"], "sent")
    [sent] = twilio.sent("message", to)
    assert sent.form["From"] == FROM_NUMBER and "482913" in sent.form["Body"] and len(sent.form["Body"]) <= 160
    assert sent.form["StatusCallback"] == settings.status_callback_url
    assert state(request["id"]).provider_ref == sent.sid


def test_voice_reads_the_digits_one_by_one_twice(twilio, worker, publish, state):
    worker()
    request = notification("voice", "verification_code", variables={"code": "4829", "minutes": 10})
    publish(request)
    assert wait_for_status(state, request["id"], "sent")
    [call] = twilio.sent("call", request["payload"]["recipient"]["phone"])
    twiml = call.form["Twiml"]
    assert twiml.startswith("<?xml") and "<Say" in twiml
    assert twiml.count("4, 8, 2, 9") == 4, "said twice in each of two <Say> blocks"


def test_transient_provider_errors_are_retried_then_sent_once(twilio, worker, publish, state):
    twilio.fail_next(503)
    twilio.fail_next(429)
    worker()
    request = notification("sms")
    publish(request)
    assert wait_for_status(state, request["id"], "sent", timeout=20)
    assert len(twilio.sent("message", request["payload"]["recipient"]["phone"])) == 1
    assert state(request["id"]).attempts == 3


def test_invalid_number_fails_at_once_and_is_dead_lettered(amqp_url, queue, twilio, worker, publish, state):
    twilio.fail_next(400, 21211)
    worker()
    request = notification("sms")
    publish(request)
    assert wait_for_status(state, request["id"], "failed")
    row = state(request["id"])
    assert row.attempts == 1 and "21211" in row.last_error
    [dead] = dead_letters(amqp_url, queue)
    assert dead.headers["x-carekey-dead-reason"].startswith("permanent")


def test_retry_budget_spent_marks_failed_with_a_dead_letter_copy(amqp_url, queue, twilio, worker, publish, state):
    twilio.fail_next(500, times=10)
    worker()
    request = notification("sms")
    publish(request)
    assert wait_for_status(state, request["id"], "failed", timeout=20)
    assert state(request["id"]).attempts == queue.max_attempts
    [dead] = dead_letters(amqp_url, queue)
    assert "retries exhausted" in dead.headers["x-carekey-dead-reason"]


def test_code_past_its_expiry_is_not_sent(smtp, worker, publish, state):
    worker()
    request = notification("email", expires_in=timedelta(seconds=-1))
    publish(request)
    assert wait_for_status(state, request["id"], "failed")
    assert "expired" in state(request["id"]).last_error and smtp.messages == []


def test_per_recipient_rate_limit_stops_code_bombing(settings, smtp, worker, publish, state):
    import dataclasses
    worker(dataclasses.replace(settings, per_recipient_hour=3))
    recipient = {"email": "bombed@example.org"}
    requests = [notification("email", recipient=recipient) for _ in range(5)]
    for request in requests:
        publish(request)
    assert all(wait_for_status(state, r["id"], "sent", "failed") for r in requests)
    assert len(smtp.to("bombed@example.org")) == 3
    refused = [state(r["id"]) for r in requests if state(r["id"]).status == "failed"]
    assert len(refused) == 2 and all("rate limited" in r.last_error for r in refused)


def test_malformed_requests_go_to_dead_letters_and_nothing_is_sent(amqp_url, queue, smtp, worker, publish):
    worker()
    bad = notification("email")
    bad["payload"]["template"] = "not_a_template"
    publish(bad)
    publish("{broken json")
    dead = dead_letters(amqp_url, queue, timeout=8)
    assert len(dead) >= 1
    dead += dead_letters(amqp_url, queue, timeout=2)
    assert len(dead) == 2 and smtp.messages == []


def test_smtp_recipient_refused_is_permanent(smtp, worker, publish, state):
    smtp.refuse.add("nobody@example.org")
    worker()
    request = notification("email", recipient={"email": "nobody@example.org"})
    publish(request)
    assert wait_for_status(state, request["id"], "failed")
    assert state(request["id"]).attempts == 1


def test_smtp_down_for_a_while_then_delivered_once(smtp, worker, publish, state):
    smtp.stop()
    worker()
    request = notification("email")
    publish(request)
    assert wait_for_status(state, request["id"], "queued", timeout=10)
    assert state(request["id"]).last_error
    smtp.start()
    assert wait_for_status(state, request["id"], "sent", timeout=20)
    assert len(smtp.to(request["payload"]["recipient"]["email"])) == 1


def test_nothing_sensitive_in_the_logs(smtp, worker, publish, state, caplog):
    caplog.set_level("DEBUG")
    worker()
    request = notification("email", variables={"code": "917364", "minutes": 10})
    publish(request)
    assert wait_for_status(state, request["id"], "sent")
    ours = [r for r in caplog.records if r.name.startswith(("services", "shared", "kombu", "amqp"))]
    text = "\n".join(f"{r.getMessage()} {vars(r)}" for r in ours)
    assert "917364" not in text and request["payload"]["recipient"]["email"] not in text
    assert re.search(r"notification handled", text)


def test_smtp_authentication_succeeds_with_the_right_password(worker, publish, state, settings):
    import dataclasses
    from tests.fakes.smtp import FakeSmtp
    server = FakeSmtp(credentials=("carekey", "s3cret-pass")).start()
    try:
        worker(dataclasses.replace(settings, smtp_port=server.port, smtp_username="carekey",
                                   smtp_password="s3cret-pass"))
        request = notification("email")
        publish(request)
        assert wait_for_status(state, request["id"], "sent")
        assert len(server.to(request["payload"]["recipient"]["email"])) == 1
    finally:
        server.stop()
