"""What the suite sent: emails at the test SMTP server, texts at the fake Twilio, and the codes
and links in them."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from email.message import Message

from tests.fakes.smtp import FakeSmtp
from tests.fakes.twilio import FakeTwilio


@dataclass
class Mailbox:
    """What the notifications worker delivered to the fake SMTP server and the fake Twilio."""

    smtp: FakeSmtp
    twilio: FakeTwilio

    def emails_to(self, address: str) -> list[Message]:
        return self.smtp.to(address)

    def latest_email(self, address: str, *, subject: str = "", after: int = 0, timeout: float = 30.0) -> Message:
        """The newest email to *address* (whose subject contains *subject*) beyond the first *after*."""
        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in self.smtp.to(address)[after:] if subject.lower() in str(m["Subject"] or "").lower()]
            if found:
                return found[-1]
            if time.monotonic() > deadline:
                seen = [str(m["Subject"]) for m in self.smtp.to(address)]
                raise AssertionError(f"no email to {address} with subject containing {subject!r} within "
                                     f"{timeout:.0f}s; got: {seen}")
            time.sleep(0.1)

    def latest_text(self, phone: str, *, after: int = 0, timeout: float = 30.0) -> str:
        """The newest text message body sent to *phone* (E.164, e.g. +15555550123)."""
        deadline = time.monotonic() + timeout
        while True:
            sent = self.twilio.sent("message", phone)[after:]
            if sent:
                return sent[-1].form.get("Body", "")
            if time.monotonic() > deadline:
                raise AssertionError(f"no text to {phone} within {timeout:.0f}s")
            time.sleep(0.1)

    def texts_to(self, phone: str) -> list[str]:
        return [r.form.get("Body", "") for r in self.twilio.sent("message", phone)]


def body_of(message: Message) -> str:
    """The plain-text part of an email (or its only part)."""
    for part in message.walk() if message.is_multipart() else [message]:
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True) or b""
            return payload.decode(part.get_content_charset() or "utf-8", errors="replace")
    return ""


def code_in(text_: str, digits: int = 6) -> str:
    """The first *digits*-digit code in a message (verification and reset codes)."""
    found = re.search(rf"(?<!\d)(\d{{{digits}}})(?!\d)", text_)
    assert found, f"no {digits}-digit code in: {text_[:500]}"
    return found.group(1)


def link_in(text_: str, contains: str = "http") -> str:
    """The first URL in a message that contains *contains* (invitation links)."""
    for url in re.findall(r"https?://[^\s<>\"')]+", text_):
        if contains in url:
            return url
    raise AssertionError(f"no link containing {contains!r} in: {text_[:500]}")
