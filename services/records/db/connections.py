"""Autocommit connections for records' single-statement reads and writes (a practice's rules, a
teen's consent, one access-log row), each statement its own transaction: durable when it returns.

Within a request scope (``open_scope`` … ``close_scope``, one per request and thread) the first
statement checks a connection out of the pool and the request's later statements reuse it, so a
read costs one checkout rather than one per statement. A statement that fails gives its connection
back at once, so the next one (the access-log row recording that failure) starts on a fresh one.
Outside a scope (the CLI, tests) every statement has a connection of its own.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Iterator

from sqlalchemy import Connection, Engine


class ScopedConnections:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine  # autocommit (shared.database.single_statements)
        self._local = threading.local()

    def open_scope(self) -> None:
        self.close_scope()
        self._local.scoped = True

    def close_scope(self) -> None:
        self._local.scoped = False
        self._release()

    @contextlib.contextmanager
    def connect(self) -> Iterator[Connection]:
        if not getattr(self._local, "scoped", False):
            with self.engine.connect() as conn:
                yield conn
            return
        conn = getattr(self._local, "connection", None)
        if conn is None:
            conn = self._local.connection = self.engine.connect()
        try:
            yield conn
        except BaseException:
            self._release()
            raise

    def _release(self) -> None:
        conn, self._local.connection = getattr(self._local, "connection", None), None
        if conn is not None:
            conn.close()
