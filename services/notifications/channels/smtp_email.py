"""Email over SMTP (optional STARTTLS and authentication)."""
from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from services.notifications.channels.base import (Outgoing, PermanentDeliveryError, TimedChannel,
                                                  TransientDeliveryError)


class SmtpEmail(TimedChannel):
    name = "email"

    def __init__(self, *, host: str, port: int, mail_from: str, username: str | None = None,
                 password: str | None = None, starttls: bool = False, timeout: float = 10.0) -> None:
        self.host, self.port, self.mail_from = host, port, mail_from
        self.username, self.password, self.starttls, self.timeout = username, password, starttls, timeout

    def _compose(self, message: Outgoing) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self.mail_from
        email["To"] = message.to
        email["Subject"] = message.subject or "CareKey"
        email["Date"] = formatdate(localtime=False)
        # The id is stable per notification, so a receiving system can tell a repeat.
        email["Message-ID"] = f"<{message.notification_id}@carekey>"
        email.set_content(message.text)
        if message.html:
            email.add_alternative(message.html, subtype="html")
        return email

    def _send(self, message: Outgoing) -> str | None:
        email = self._compose(message)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.ehlo()
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if self.username:
                    smtp.login(self.username, self.password or "")
                refused = smtp.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise (PermanentDeliveryError if all(c >= 500 for c in codes) else TransientDeliveryError)(
                f"recipient refused ({codes[0]})") from None
        except smtplib.SMTPResponseException as exc:
            # 530/535 are authentication failures: our configuration, not the message; retry.
            if 500 <= exc.smtp_code < 600 and exc.smtp_code not in (530, 535):
                raise PermanentDeliveryError(f"SMTP {exc.smtp_code}") from None
            raise TransientDeliveryError(f"SMTP {exc.smtp_code}") from None
        except (smtplib.SMTPException, OSError) as exc:  # connection refused, timeouts, disconnects
            raise TransientDeliveryError(type(exc).__name__) from None
        if refused:
            raise PermanentDeliveryError("recipient refused")
        return f"{message.notification_id}@carekey"
