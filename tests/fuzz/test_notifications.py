"""Notifications, fuzzed: the local outbox page and Twilio's status callback, each fuzzed form signed
as Twilio signs it, so that the bad input reaches the delivery reports."""
from __future__ import annotations

import dataclasses

import pytest
from twilio.request_validator import RequestValidator

from services import registry
from tests.fuzz.harness import PAGE, Endpoint, fuzz, plain, report
from tests.fuzz.inputs import Request

AUTH_TOKEN = "fuzz-twilio-auth-token"


def formats(endpoint: str | None) -> set[str]:
    return {"page", "problem"} if endpoint in ("outbox.outbox", None) else {"problem"}


@pytest.fixture
def notifications_app(suite):
    settings = dataclasses.replace(suite.settings["notifications"], email_backend="console", sms_backend="console",
                                   twilio_auth_token=AUTH_TOKEN)
    app = registry.create_app("notifications", settings)
    app.testing = True
    return app


def test_no_endpoint_answers_bad_input_with_a_5xx_or_a_foreign_format(notifications_app):
    callback_url = notifications_app.extensions["carekey.settings"].status_callback_url
    validator = RequestValidator(AUTH_TOKEN)

    def signed(_path: str, request: Request) -> Request:
        params = {}
        for name, value in request.form:  # as the service decodes them (a lone surrogate is not UTF-8)
            params.setdefault(*(text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
                                for text in (name, value)))
        signature = validator.compute_signature(callback_url, params)
        return dataclasses.replace(request, headers=(*request.headers, ("X-Twilio-Signature", signature)))

    status = Endpoint([Request("POST", form=(("MessageSid", "SM123"), ("MessageStatus", "delivered"),
                                             ("CallSid", "CA123"), ("CallStatus", "completed")))], finish=signed)
    specs = {"health.healthz": plain, "health.readyz": plain, "health.metrics": plain,
             "outbox.outbox": lambda: Endpoint([Request("GET", query=(("x", "1"),))], accept=PAGE),
             "twilio.twilio_status": lambda: status}
    failures, sent = fuzz(notifications_app, specs, formats)
    assert not failures, report("notifications", failures, sent)
