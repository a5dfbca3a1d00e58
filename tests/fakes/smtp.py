"""A real SMTP server for tests (aiosmtpd) that can be down, slow, or refuse recipients.

Like a real MTA, it keeps a message only if it could answer 250 to the client: a client that went
away while the server was still working on the message has not had it delivered.
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
        return "250 Message accepted for delivery"


class FakeSmtp:
    def __init__(self, port: int | None = None, credentials: tuple[str, str] | None = None) -> None:
        self.port = port or free_port()
        self.credentials = credentials
        self.messages: list[Message] = []
        self.refuse: set[str] = set()
        self.stall_seconds = 0.0
        self.data_started = threading.Event()
        self.lock = threading.Lock()
        self._controller: Controller | None = None

    def start(self) -> "FakeSmtp":
        options = {}
        if self.credentials:  # AUTH over plain text is allowed here only because it is a local test
            options = dict(authenticator=self._authenticate, auth_required=True, auth_require_tls=False)
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port, **options)
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

    def to(self, address: str) -> list[Message]:
        with self.lock:
            return [m for m in self.messages if address in m["To"]]
