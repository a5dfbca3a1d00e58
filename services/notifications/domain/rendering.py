"""Templates for every message the suite sends: email as text and HTML, short SMS, and voice that
reads codes digit by digit and says them twice."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound, select_autoescape
from jinja2.exceptions import TemplateError
from twilio.twiml.voice_response import VoiceResponse

from services.notifications.channels.base import Outgoing

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates" / "messages"


class RenderError(ValueError):
    """The template does not exist for this channel, or a variable it needs is missing."""


def spell(value: Any) -> str:
    """'482913' → '4, 8, 2, 9, 1, 3' so a voice reads digits, not 'four hundred eighty-two thousand'."""
    return ", ".join(str(value))


class _OptionalInTests(StrictUndefined):
    """Missing variables fail when printed (a message without its code is never sent) but may be
    tested with ``if`` and given a ``default``."""

    def __bool__(self) -> bool:
        return False

    def __iter__(self):
        return iter(())


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATE_DIR)), undefined=_OptionalInTests,
                      autoescape=select_autoescape(enabled_extensions=("html",), default=False),
                      keep_trailing_newline=False)
    env.filters["spell"] = spell
    return env


_ENV = _environment()


def _render(name: str, variables: dict[str, Any]) -> str:
    return _ENV.get_template(name).render(**variables).strip()


def supports(template: str, channel: str) -> bool:
    suffix = {"email": "email.txt", "sms": "sms.txt", "voice": "voice.txt"}[channel]
    return (TEMPLATE_DIR / f"{template}.{suffix}").exists()


def render(notification_id: str, template: str, channel: str, to: str, variables: dict[str, Any],
           locale: str = "en") -> Outgoing:
    context = {"locale": locale, **variables}
    try:
        if channel == "email":
            subject = _render(f"{template}.subject.txt", context)
            return Outgoing(notification_id, channel, to, subject, _render(f"{template}.email.txt", context),
                            html=_render(f"{template}.email.html", {**context, "subject": subject}))
        if channel == "sms":
            return Outgoing(notification_id, channel, to, None, _render(f"{template}.sms.txt", context))
        spoken = _render(f"{template}.voice.txt", context)
        twiml = VoiceResponse()
        twiml.say(spoken, language="en-US")
        twiml.pause(length=1)
        twiml.say(spoken, language="en-US")
        return Outgoing(notification_id, channel, to, None, spoken, twiml=str(twiml))
    except TemplateNotFound:
        raise RenderError(f"no {channel} version of the {template} template") from None
    except TemplateError as exc:
        raise RenderError(f"the {template} template cannot be rendered: {type(exc).__name__}") from None
