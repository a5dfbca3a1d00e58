"""Builds the channels and the deliverer from settings (the one place that picks implementations)."""
from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from services.notifications.channels.console import ConsoleOutbox
from services.notifications.channels.smtp_email import SmtpEmail
from services.notifications.channels.twilio import TwilioSms, TwilioVoice
from services.notifications.domain.delivery import Deliverer, Limits


def build_channels(settings, sessions: sessionmaker[Session]) -> dict:
    channels = {}
    if settings.email_backend == "smtp":
        channels["email"] = SmtpEmail(host=settings.smtp_host, port=settings.smtp_port, mail_from=settings.mail_from,
                                      username=settings.smtp_username, password=settings.smtp_password,
                                      starttls=settings.smtp_starttls, timeout=settings.smtp_timeout)
    else:
        channels["email"] = ConsoleOutbox("email", sessions)
    if settings.sms_backend == "twilio":
        options = dict(account_sid=settings.twilio_account_sid, auth_token=settings.twilio_auth_token,
                       from_number=settings.twilio_from, status_callback=settings.status_callback_url,
                       api_url=settings.twilio_api_url, timeout=settings.twilio_timeout)
        channels["sms"], channels["voice"] = TwilioSms(**options), TwilioVoice(**options)
    else:
        channels["sms"], channels["voice"] = ConsoleOutbox("sms", sessions), ConsoleOutbox("voice", sessions)
    return channels


def build_deliverer(settings, sessions: sessionmaker[Session]) -> Deliverer:
    return Deliverer(sessions, build_channels(settings, sessions),
                     Limits(per_hour=settings.per_recipient_hour, per_day=settings.per_recipient_day))
