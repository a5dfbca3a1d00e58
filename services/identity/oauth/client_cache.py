"""Registered clients by id for the token endpoints, held in process and dropped the moment a
client changes anywhere (PostgreSQL only).

Every insert, update or delete of a ``clients`` row through the ORM (CLI, admin API, demo, tests)
sends ``NOTIFY carekey_clients, '<client_id>'`` in the same transaction, so it is delivered when,
and only if, the change commits. Each process keeps one listening connection (a daemon thread,
started on first use, so after gunicorn forks); a notification drops that client. The cache is
used only while the listener is connected and has applied everything that reached its socket
(a lookup checks the socket without blocking: a notification that arrived but is not applied
yet means no cache for that lookup): when its connection fails the cache is emptied and
every lookup goes to the database until it is back. (One listener per database per process is
shared by every app made on it.) A connection that dies silently is found by
a ping every ``HEALTH_SECONDS``; entries also expire after ``TTL_SECONDS`` whatever happens.

A lookup that started before a change and finishes after its notification is not stored (a
generation counter), so a stale row can never be put back. Unknown client ids are not cached.
What is cached is a detached copy of the row, never attached to any session and never changed.
"""
from __future__ import annotations

import logging
import os
import select
import threading
import time
import weakref
from typing import Callable

from sqlalchemy import Engine, inspect

from services.identity.db.models import CLIENT_CHANGES_CHANNEL as CHANNEL, Client

log = logging.getLogger(__name__)

TTL_SECONDS = 300.0
HEALTH_SECONDS = 5.0
MAX_ENTRIES = 4096


def snapshot(row: Client) -> Client:
    """A transient copy of the row's columns (safe to share between threads and requests)."""
    columns = {attr.key: getattr(row, attr.key) for attr in inspect(Client).column_attrs}
    return Client(**columns)


class ClientCache:
    def __init__(self, engine: Engine, *, ttl: float = TTL_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.engine, self.ttl, self.clock = engine, ttl, clock
        self.enabled = engine.dialect.name == "postgresql"
        self._entries: dict[str, tuple[float, Client]] = {}
        self._lock = threading.Lock()
        self._generation = 0
        self._listener: _Listener | None = None
        self.hits = self.misses = 0

    def get(self, client_id: str, load: Callable[[], Client | None]) -> Client | None:
        """The client (a detached snapshot), from the cache or ``load()``."""
        if not self.enabled:
            return load()
        if self._listener is None:
            self._listener = _listener_for(self.engine, self)
        if not self._listener.current():
            return load()
        with self._lock:
            found = self._entries.get(client_id)
            generation = self._generation
            if found is not None and found[0] > self.clock():
                self.hits += 1
                return found[1]
        self.misses += 1
        row = load()
        if row is None:
            return None
        copy = snapshot(row)
        with self._lock:
            if self._generation == generation and self._listener.current():
                if len(self._entries) >= MAX_ENTRIES:
                    self._entries.clear()
                self._entries[client_id] = (self.clock() + self.ttl, copy)
        return copy

    def invalidate(self, client_id: str | None = None) -> None:
        with self._lock:
            self._generation += 1
            if client_id is None:
                self._entries.clear()
            else:
                self._entries.pop(client_id, None)


class _Listener:
    """One listening connection per database per process, shared by every cache on it (an app
    made per test must not open a connection each)."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self.caches: weakref.WeakSet[ClientCache] = weakref.WeakSet()
        self.listening = threading.Event()
        self.lock = threading.Lock()
        self.fileno: int | None = None
        self.draining = 0
        self.thread = threading.Thread(target=self._listen_forever, name="carekey-client-cache", daemon=True)

    def _invalidate(self, client_id: str | None) -> None:
        with self.lock:
            caches = list(self.caches)
        for cache in caches:
            cache.invalidate(client_id)

    def current(self) -> bool:
        """True when every change committed so far has been applied: connected, nothing unread on
        the socket (a notification that arrived is applied first: until then, no cache), and no
        notification being applied right now."""
        if not self.listening.is_set() or self.draining:
            return False
        fileno = self.fileno
        if fileno is None:
            return False
        try:
            readable, _, _ = select.select([fileno], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable and not self.draining

    def _drain(self, conn) -> None:
        with self.lock:
            self.draining += 1
        try:
            for note in conn.notifies(timeout=0):
                self._invalidate(note.payload or None)
        finally:
            with self.lock:
                self.draining -= 1

    def _listen_forever(self) -> None:
        import psycopg
        backoff = 0.5
        while True:
            try:
                with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.fileno = conn.pgconn.socket
                    self._invalidate(None)
                    self.listening.set()
                    backoff = 0.5
                    while True:
                        readable, _, _ = select.select([self.fileno], [], [], HEALTH_SECONDS)
                        if not readable:
                            conn.execute("SELECT 1")  # a dead connection raises here
                        self._drain(conn)
            except Exception as error:  # noqa: BLE001 - any failure: stop caching, retry
                log.warning("client cache listener disconnected", extra={"error": type(error).__name__})
            finally:
                self.listening.clear()
                self.fileno = None
                self._invalidate(None)
            time.sleep(backoff)
            backoff = min(backoff * 2, 30.0)


_LISTENERS: dict[tuple[int, str], _Listener] = {}
_LISTENERS_LOCK = threading.Lock()


def _listener_for(engine: Engine, cache: ClientCache) -> _Listener:
    conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    key = (os.getpid(), conninfo)  # a forked worker starts its own
    with _LISTENERS_LOCK:
        listener = _LISTENERS.get(key)
        if listener is None:
            listener = _LISTENERS[key] = _Listener(conninfo)
            listener.thread.start()
        with listener.lock:
            listener.caches.add(cache)
    return listener
