"""kombu connections: RabbitMQ (with publisher confirms) in production, the embedded broker for ``make run``."""
from __future__ import annotations

import os

from kombu import Connection

from shared.messaging import embedded_transport

EMBEDDED_PREFIX = "sqlalchemy+sqlite:///"  # kept from kombu's SQLAlchemy transport, which the embedded broker replaced


def is_amqp(url: str) -> bool:
    return url.split("://", 1)[0] in ("amqp", "amqps", "pyamqp")


def connect(url: str, *, heartbeat: int = 30, connect_timeout: float = 5.0) -> Connection:
    """A kombu connection for *url*; nothing is opened until first use."""
    if is_amqp(url):
        return Connection(url, heartbeat=heartbeat, connect_timeout=connect_timeout,
                          transport_options={"confirm_publish": True})
    if url.startswith(EMBEDDED_PREFIX):
        path = url[len(EMBEDDED_PREFIX):]
        os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
        return Connection(embedded_transport.URL_PREFIX + path, transport=embedded_transport.Transport)
    return Connection(url)


def ping(url: str) -> None:
    """Open and close a connection; raises when the broker is unreachable."""
    with connect(url, heartbeat=0, connect_timeout=2.0) as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
