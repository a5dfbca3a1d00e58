"""Email over SMTP (optional STARTTLS and authentication), on one connection per channel (per worker).

The connection is opened at the first message and kept for the next ones. When the server closed it
meanwhile (its idle timeout, a 421 "closing", a reset), the message is sent on a new connection, but
only if nothing of it had gone out: once the message data started, a broken connection may have
delivered it, so the call fails as transient and the request is retried through the queue (the one
window where a message can go out twice, with the same Message-ID). ``close()`` ends the session with
QUIT when the worker stops.
"""
from __future__ import annotations

import smtplib
import ssl
import threading
from email.message import EmailMessage
from email.utils import formatdate

from services.notifications.channels.base import (Outgoing, PermanentDeliveryError, TimedChannel,
                                                  TransientDeliveryError)

CLOSING = 421  # "service not available, closing transmission channel"


class _Session(smtplib.SMTP):
    """smtplib's client, noting when the message data began to go out."""

    data_started = False

    def data(self, msg):
        self.data_started = True
        return super().data(msg)


def _server_closed(exc: Exception) -> bool:
    """The server had closed the session: disconnected, or answered 421 before the message data."""
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return True
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code == CLOSING for code, _ in exc.recipients.values())
    return isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code == CLOSING


class SmtpEmail(TimedChannel):
    name = "email"

    def __init__(self, *, host: str, port: int, mail_from: str, username: str | None = None,
                 password: str | None = None, starttls: bool = False, timeout: float = 10.0) -> None:
        self.host, self.port, self.mail_from = host, port, mail_from
        self.username, self.password, self.starttls, self.timeout = username, password, starttls, timeout
        self._session: _Session | None = None
        self._lock = threading.Lock()  # one SMTP transaction at a time on the connection

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
            with self._lock:
                refused = self._transaction(email)
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

    def _transaction(self, email: EmailMessage) -> dict:
        """One mail transaction on the kept session; on a new one if the server had closed the kept one
        before any of the message went out."""
        kept = self._session is not None
        session = self._session or self._open()
        session.data_started = False
        try:
            return session.send_message(email)
        except Exception as exc:
            self._forget_if_broken(exc)
            if not (kept and not session.data_started and _server_closed(exc)):
                raise
        session = self._open()
        try:
            return session.send_message(email)
        except Exception as exc:
            self._forget_if_broken(exc)
            raise

    def _open(self) -> _Session:
        session = _Session(self.host, self.port, timeout=self.timeout)
        try:
            session.ehlo()
            if self.starttls:
                session.starttls(context=ssl.create_default_context())
                session.ehlo()
            if self.username:
                session.login(self.username, self.password or "")
        except BaseException:
            session.close()
            raise
        self._session = session
        return session

    def _forget_if_broken(self, exc: Exception) -> None:
        """Keeps the session after a refusal the server answered (smtplib has reset the transaction);
        anything else leaves it in an unknown state: closed, and the next message opens a new one."""
        session, answered = self._session, isinstance(exc, (smtplib.SMTPResponseException,
                                                            smtplib.SMTPRecipientsRefused))
        if session is not None and (not answered or session.sock is None):
            session.close()
            self._session = None

    def close(self) -> None:
        with self._lock:
            session, self._session = self._session, None
            if session is None:
                return
            try:
                session.quit()
            except (smtplib.SMTPException, OSError):  # the server went away first
                session.close()
