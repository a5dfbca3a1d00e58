"""Text messages and voice calls through Twilio's API (the ``twilio`` package).

``TWILIO_API_URL`` points the client at another host that speaks Twilio's API (the tests' fake
server); the rewrite happens in the HTTP client, so the code path is the production one.
"""
from __future__ import annotations

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from services.notifications.channels.base import (Outgoing, PermanentDeliveryError, TimedChannel,
                                                  TransientDeliveryError)

TWILIO_API = "https://api.twilio.com"
# Twilio error codes that no retry will fix: invalid or unreachable number, opted out, blocked.
PERMANENT_CODES = {21211, 21214, 21217, 21401, 21407, 21408, 21421, 21601, 21606, 21610, 21612, 21614, 30003,
                   30004, 30005, 30006, 30007, 13224, 13223}


class RedirectingHttpClient(TwilioHttpClient):
    def __init__(self, base_url: str | None, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/") if base_url else None

    def request(self, method, url, *args, **kwargs):
        if self.base_url and url.startswith(TWILIO_API):
            url = self.base_url + url[len(TWILIO_API):]
        return super().request(method, url, *args, **kwargs)


def _classify(exc: Exception) -> Exception:
    if isinstance(exc, TwilioRestException):
        if exc.status == 429 or exc.status >= 500:
            return TransientDeliveryError(f"Twilio {exc.status}")
        if exc.code in PERMANENT_CODES or 400 <= exc.status < 500:
            return PermanentDeliveryError(f"Twilio {exc.status} code {exc.code}")
    if isinstance(exc, (requests.RequestException, OSError)):
        return TransientDeliveryError(type(exc).__name__)
    return TransientDeliveryError(type(exc).__name__)


class _TwilioChannel(TimedChannel):
    def __init__(self, *, account_sid: str, auth_token: str, from_number: str, status_callback: str | None,
                 api_url: str | None = None, timeout: float = 10.0) -> None:
        self.client = Client(account_sid, auth_token, http_client=RedirectingHttpClient(api_url, timeout))
        self.from_number = from_number
        self.status_callback = status_callback


class TwilioSms(_TwilioChannel):
    name = "sms"

    def _send(self, message: Outgoing) -> str | None:
        try:
            created = self.client.messages.create(to=message.to, from_=self.from_number, body=message.text,
                                                  status_callback=self.status_callback)
        except Exception as exc:
            raise _classify(exc) from None
        return created.sid


class TwilioVoice(_TwilioChannel):
    name = "voice"

    def _send(self, message: Outgoing) -> str | None:
        try:
            created = self.client.calls.create(to=message.to, from_=self.from_number, twiml=message.twiml,
                                               status_callback=self.status_callback)
        except Exception as exc:
            raise _classify(exc) from None
        return created.sid
