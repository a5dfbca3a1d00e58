"""Helpers that read as protocol steps."""
from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from urllib.parse import urlsplit, urlunsplit

from kombu import Queue, binding

from shared.messaging.broker import connect
from shared.messaging.topology import EVENTS_EXCHANGE


def free_ports(count: int) -> list[int]:
    """*count* distinct ports free on 127.0.0.1 right now."""
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def http_status(url: str) -> int:
    """The status a GET of *url* answers; 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def unique_event_type() -> str:
    return f"test.t{uuid.uuid4().hex[:12]}.happened"


class EventTap:
    """A throwaway queue bound to one event type; counts deliveries per message id."""

    def __init__(self, amqp_url: str, event_type: str) -> None:
        self.connection = connect(amqp_url)
        self.queue = Queue(f"tap.{event_type}", exchange=EVENTS_EXCHANGE, durable=False,
                           bindings=[binding(EVENTS_EXCHANGE, routing_key=event_type)])
        self.bound = self.queue(self.connection.default_channel)
        EVENTS_EXCHANGE(self.connection.default_channel).declare()
        self.bound.declare()
        self.deliveries: Counter[str] = Counter()
        self.bodies: dict[str, dict] = {}
        self.headers: dict[str, dict] = {}

    def drain(self, seconds: float = 0.5) -> Counter[str]:
        """Collect whatever arrives within *seconds* of the last delivery."""
        quiet_until = time.monotonic() + seconds
        while time.monotonic() < quiet_until:
            message = self.bound.get(no_ack=False, accept=["json"])
            if message is None:
                time.sleep(0.02)
                continue
            body = message.decode()
            self.deliveries[body["id"]] += 1
            self.bodies[body["id"]] = body
            self.headers[body["id"]] = dict(message.headers or {})
            message.ack()
            quiet_until = time.monotonic() + seconds
        return self.deliveries

    def wait_for(self, ids: set[str], timeout: float = 15.0) -> Counter[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not ids <= set(self.deliveries):
            self.drain(0.2)
        return self.drain(0.5)

    def close(self) -> None:
        try:
            self.bound.delete()
        finally:
            self.connection.release()


def through_proxy(amqp_url: str, port: int) -> str:
    parts = urlsplit(amqp_url)
    userinfo = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urlunsplit((parts.scheme, f"{userinfo}127.0.0.1:{port}", parts.path, parts.query, parts.fragment))
