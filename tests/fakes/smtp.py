"""A real SMTP server for tests (aiosmtpd) that can be down, slow, refuse recipients, close idle
connections, answer 421 and close, or reset its connections.

Like a real MTA, it keeps a message only if it could answer 250 to the client: a client that went
away while the server was still working on the message has not had it delivered. It counts the
connections it saw (their EHLO) and the sessions ended with QUIT.
"""
from __future__ import annotations

import asyncio
import email
import socket
import threading
import time
from email.message import Message

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Handler:
    def __init__(self, server: "FakeSmtp") -> None:
        self.server = server

    async def handle_EHLO(self, smtp, session, envelope, hostname, responses):
        session.host_name = hostname
        with self.server.lock:
            if smtp not in self.server.sessions:
                self.server.sessions.append(smtp)
        return responses

    async def handle_QUIT(self, smtp, session, envelope):
        with self.server.lock:
            self.server.quits += 1
        return "221 Bye"

    async def handle_MAIL(self, smtp, session, envelope, address, mail_options):
        if self.server.closing_next_mail:
            self.server.closing_next_mail = False
            smtp.loop.call_later(0.05, smtp.transport.close)
            return "421 4.3.2 Service shutting down and closing transmission channel"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, smtp, session, envelope, address, rcpt_options):
        if address.lower() in self.server.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp, session, envelope):
        self.server.data_started.set()
        stall = self.server.stall_seconds
        if stall:
            self.server.stall_seconds = 0.0  # only the first message is slow
            deadline = time.monotonic() + stall
            while time.monotonic() < deadline:
                await asyncio.sleep(0.05)
                if smtp.transport is None or smtp.transport.is_closing():
                    return "451 client went away"  # never acknowledged: not delivered
        if smtp.transport is None or smtp.transport.is_closing():
            return "451 client went away"
        message = email.message_from_bytes(envelope.content)
        with self.server.lock:
            self.server.messages.append(message)
        if self.server.reset_after_next_message:  # kept, but the client never hears the 250
            self.server.reset_after_next_message = False
            smtp.transport.abort()
        return "250 Message accepted for delivery"


class FakeSmtp:
    def __init__(self, port: int | None = None, credentials: tuple[str, str] | None = None,
                 idle_timeout: float = 300) -> None:
        self.port = port or free_port()
        self.credentials = credentials
        self.idle_timeout = idle_timeout  # seconds before the server closes a quiet connection
        self.messages: list[Message] = []
        self.sessions: list = []  # every connection that said EHLO
        self.quits = 0
        self.refuse: set[str] = set()
        self.closing_next_mail = False  # answer the next MAIL FROM with 421 and close
        self.reset_after_next_message = False  # keep the next message, then reset before answering
        self.stall_seconds = 0.0
        self.data_started = threading.Event()
        self.lock = threading.Lock()
        self._controller: Controller | None = None

    def start(self) -> "FakeSmtp":
        options = {}
        if self.credentials:  # AUTH over plain text is allowed here only because it is a local test
            options = dict(authenticator=self._authenticate, auth_required=True, auth_require_tls=False)
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port,
                                      timeout=self.idle_timeout, **options)
        self._controller.start()
        return self

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult, LoginPassword
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode(), auth_data.password.decode()) == self.credentials
        return AuthResult(success=ok)

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def connections(self) -> int:
        with self.lock:
            return len(self.sessions)

    def open_connections(self) -> int:
        with self.lock:
            return sum(1 for smtp in self.sessions if smtp.transport is not None)

    def reset_connections(self) -> None:
        """Reset every open connection, as a server restarting or a network fault does."""
        with self.lock:
            for smtp in self.sessions:
                if smtp.transport is not None:
                    smtp.loop.call_soon_threadsafe(smtp.transport.abort)

    def to(self, address: str) -> list[Message]:
        with self.lock:
            return [m for m in self.messages if address in m["To"]]
