"""Every template renders for its channels; the Twilio status callback; the local outbox page."""
from __future__ import annotations

import dataclasses

import pytest
from twilio.request_validator import RequestValidator

from services import registry
from services.notifications.domain.rendering import RenderError, render, supports
from shared.messaging.notifications import TEMPLATES
from tests.fakes import twilio as fake
from tests.notifications.conftest import notification, wait_for_status

VARIABLES = {
    "invitation": {"practice_name": "Riverside", "link": "https://reg.example/i/abc", "expires_days": 14,
                   "first_name": "Pat"},
    "verification_code": {"code": "482913", "minutes": 10},
    "safe_health_code": {"code": "482913", "practice_name": "Riverside"},
    "forgotten_user_id": {"username": "pat.lee", "practices": ["Riverside", "Hillside"]},
    "password_reset": {"code": "482913", "link": "https://id.example/reset/xyz"},
    "security_alert": {"event": "lockout", "when": "21 Nov 2026 09:00 UTC"},
    "practice_linked": {"practice_name": "Hillside"},
    "proxy_granted": {"practice_name": "Riverside", "patient_first_name": "Sam"},
}


@pytest.mark.parametrize("template", TEMPLATES)
def test_every_template_renders_email_as_text_and_html(template):
    message = render("id-1", template, "email", "pat@example.org", VARIABLES[template])
    assert message.subject and message.text and message.html.startswith("<!doctype html>")
    for key, value in VARIABLES[template].items():
        if isinstance(value, str) and len(value) > 3 and key != "event":  # the event is described, not named
            assert value in message.text or value in message.subject, (template, value)


@pytest.mark.parametrize("template", [t for t in TEMPLATES if supports(t, "sms")])
def test_sms_versions_are_short(template):
    message = render("id-1", template, "sms", "+15555550123", VARIABLES[template])
    assert len(message.text) <= 160, message.text


def test_codes_have_sms_and_voice_versions():
    for template in ("verification_code", "safe_health_code", "password_reset"):
        assert supports(template, "sms") and supports(template, "voice")


def test_a_missing_code_is_never_rendered_blank():
    with pytest.raises(RenderError):
        render("id-1", "verification_code", "sms", "+15555550123", {"minutes": 10})


def test_html_escapes_variables():
    message = render("id-1", "practice_linked", "email", "p@example.org", {"practice_name": "<script>x</script>"})
    assert "<script>" not in message.html and "&lt;script&gt;" in message.html


def test_channel_without_a_template_version_is_an_error():
    with pytest.raises(RenderError):
        render("id-1", "forgotten_user_id", "voice", "+15555550123", VARIABLES["forgotten_user_id"])


@pytest.fixture
def callback_app(settings):
    return registry.create_app("notifications", settings).test_client()


def signed(settings, form: dict) -> dict:
    signature = RequestValidator(fake.AUTH_TOKEN).compute_signature(settings.status_callback_url, form)
    return {"X-Twilio-Signature": signature}


def test_twilio_status_callback_needs_a_valid_signature(twilio, worker, publish, state, settings, callback_app):
    worker()
    request = notification("sms")
    publish(request)
    assert wait_for_status(state, request["id"], "sent")
    sid = state(request["id"]).provider_ref
    form = {"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": fake.ACCOUNT_SID}
    forged = callback_app.post("/twilio/status", data=form, headers={"X-Twilio-Signature": "bm9wZQ=="})
    assert forged.status_code == 403 and state(request["id"]).status == "sent"
    unsigned = callback_app.post("/twilio/status", data=form)
    assert unsigned.status_code == 403
    accepted = callback_app.post("/twilio/status", data=form, headers=signed(settings, form))
    assert accepted.status_code == 204
    row = state(request["id"])
    assert row.status == "delivered" and row.delivered_at is not None


def test_undelivered_report_marks_failed(twilio, worker, publish, state, settings, callback_app):
    worker()
    request = notification("sms")
    publish(request)
    assert wait_for_status(state, request["id"], "sent")
    form = {"MessageSid": state(request["id"]).provider_ref, "MessageStatus": "undelivered"}
    assert callback_app.post("/twilio/status", data=form, headers=signed(settings, form)).status_code == 204
    assert state(request["id"]).status == "failed"


def test_embedded_outbox_page_shows_what_would_have_been_sent(suite, worker, publish, state, settings):
    console = dataclasses.replace(settings, email_backend="console", sms_backend="console")
    worker(console)
    request = notification("email", "invitation", variables=VARIABLES["invitation"])
    publish(request)
    assert wait_for_status(state, request["id"], "sent")
    page = registry.create_app("notifications", console).test_client().get("/outbox")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "Riverside invites you" in text and "https://reg.example/i/abc" in text


def test_outbox_page_is_absent_when_real_providers_are_configured(settings):
    response = registry.create_app("notifications", settings).test_client().get("/outbox")
    assert response.status_code == 404
