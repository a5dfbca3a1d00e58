"""The embedded broker of ``make run``: kombu's virtual transport over one SQLite file, with leases.

kombu's own SQLAlchemy transport hides a delivered message and shows it again only when its channel
closes cleanly: a worker killed with SIGKILL loses what it held, for good, and acknowledged rows are
never deleted. Here a delivered message is *leased*, the way RabbitMQ holds a consumer's unacknowledged
messages while its connection lives:

- fetching a message hides it until its lease runs out (``lease_seconds``, 10 by default) and bumps the
  row's ``version``; the delivery tag names the row and that version, so only the latest holder can
  settle it;
- while the channel holds it, a thread renews the lease every third of it, so a slow but live worker
  keeps its messages however long a handler runs;
- ack deletes the row, and so does reject; requeue (and a channel closing with messages in hand) makes
  it visible again at once;
- a lease that ran out (its worker died) makes the message deliverable to any consumer again.

Each write is one statement, its own transaction (the renewal of several leases is one BEGIN IMMEDIATE
transaction), so several processes share the file: WAL lets readers run beside the one writer and the
busy timeout queues writers. An empty poll only reads. The tables are kombu's (``kombu_queue``,
``kombu_message``) plus a ``lease_until`` column: a ``var/broker.sqlite`` written by kombu's transport
keeps its waiting messages; the rows that transport had delivered (acknowledged or not, it cannot tell)
are dropped once, when the column is added.

:func:`shared.messaging.broker.connect` uses it for ``sqlalchemy+sqlite:///`` URLs.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from queue import Empty

from kombu.transport import virtual

log = logging.getLogger(__name__)

LEASE_SECONDS = 10.0
BUSY_TIMEOUT_SECONDS = 30.0
URL_PREFIX = "sqlite:///"

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS kombu_queue (
        id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
        name VARCHAR(200),
        UNIQUE (name))""",
    """CREATE TABLE IF NOT EXISTS kombu_message (
        id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
        visible BOOLEAN,
        timestamp DATETIME,
        payload TEXT NOT NULL,
        version SMALLINT NOT NULL,
        queue_id INTEGER,
        lease_until FLOAT,
        CONSTRAINT "FK_kombu_message_queue" FOREIGN KEY(queue_id) REFERENCES kombu_queue (id))""",
)
_QUEUE_INDEX = "ix_kombu_message_queue_id"  # its presence says the file has this module's schema

_READY = "queue_id = :queue AND (visible = 1 OR lease_until < :now)"
_ANY_READY = f"SELECT 1 FROM kombu_message WHERE {_READY} LIMIT 1"
_NEXT = f"SELECT id FROM kombu_message WHERE {_READY} ORDER BY id LIMIT 1"
_LEASE_NEXT = (f"UPDATE kombu_message SET visible = 0, lease_until = :until, version = version + 1 "
               f"WHERE id = ({_NEXT}) RETURNING id, version, payload")
_REMOVE_NEXT = f"DELETE FROM kombu_message WHERE id = ({_NEXT}) RETURNING payload"
_RENEW = "UPDATE kombu_message SET lease_until = ? WHERE id = ? AND version = ?"
_RELEASE = "UPDATE kombu_message SET visible = 1, lease_until = NULL WHERE id = ? AND version = ?"
_SETTLE = "DELETE FROM kombu_message WHERE id = ? AND version = ?"

_prepared: set[str] = set()
_prepared_lock = threading.Lock()


def _open(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False)
    with _prepared_lock:
        if path not in _prepared:
            _prepare(db)
            _prepared.add(path)
    return db


def _prepare(db: sqlite3.Connection) -> None:
    """Creates the tables, or brings a file of kombu's transport up to date (under the write lock, so
    processes starting together do it once). A file already up to date is only read."""
    db.execute("PRAGMA journal_mode=WAL")
    if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (_QUEUE_INDEX,)).fetchone():
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        for statement in _SCHEMA:
            db.execute(statement)
        columns = {row[1] for row in db.execute("PRAGMA table_info(kombu_message)")}
        if "lease_until" not in columns:  # kombu's transport wrote this file
            db.execute("ALTER TABLE kombu_message ADD COLUMN lease_until FLOAT")
            db.execute("DELETE FROM kombu_message WHERE visible = 0")
        db.execute(f"CREATE INDEX IF NOT EXISTS {_QUEUE_INDEX} ON kombu_message (queue_id, id)")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _row_version(delivery_tag: str) -> tuple[int, int]:
    row_id, version = delivery_tag.split(".")
    return int(row_id), int(version)


class QoS(virtual.QoS):
    """kombu's prefetch accounting; settling a message settles its row."""

    def ack(self, delivery_tag):
        self.channel.settle(delivery_tag, requeue=False)
        super().ack(delivery_tag)

    def reject(self, delivery_tag, requeue=False):
        self.channel.settle(delivery_tag, requeue=requeue)
        super().ack(delivery_tag)  # settled: forget it

    def restore_unacked(self):
        self._flush()
        self._delivered.clear()
        self.channel.release_all()
        return []


class Channel(virtual.Channel):
    QoS = QoS
    from_transport_options = (*virtual.Channel.from_transport_options, "lease_seconds")
    lease_seconds = LEASE_SECONDS

    def __init__(self, connection, **kwargs):
        super().__init__(connection, **kwargs)
        hostname = connection.client.hostname
        if not hostname.startswith(URL_PREFIX):
            raise ValueError(f"the embedded broker needs a {URL_PREFIX}PATH location, not {hostname!r}")
        self._db: sqlite3.Connection | None = _open(hostname[len(URL_PREFIX):])
        self._lock = threading.Lock()  # one statement at a time on the connection (consumer and renewal)
        self._queue_ids: dict[str, int] = {}
        self._no_ack_queues: set[str] = set()
        self._held: set[str] = set()  # delivery tags whose leases this channel renews
        self._stopped = threading.Event()
        self._renewer: threading.Thread | None = None

    # -- queues ---------------------------------------------------------------------------------
    def _queue_id(self, queue: str, *, create: bool) -> int | None:
        if queue not in self._queue_ids:
            with self._lock:
                row = self._db.execute("SELECT id FROM kombu_queue WHERE name = ?", (queue,)).fetchone()
                if row is None and create:
                    self._db.execute("INSERT OR IGNORE INTO kombu_queue (name) VALUES (?)", (queue,))
                    row = self._db.execute("SELECT id FROM kombu_queue WHERE name = ?", (queue,)).fetchone()
            if row is None:
                return None
            self._queue_ids[queue] = row[0]
        return self._queue_ids[queue]

    def _new_queue(self, queue, **kwargs):
        self._queue_id(queue, create=True)

    def _has_queue(self, queue, **kwargs):
        return self._queue_id(queue, create=False) is not None

    def _size(self, queue):
        return self._count(queue, "SELECT count(*) FROM kombu_message WHERE " + _READY)

    def _purge(self, queue):
        """Removes the messages ready for delivery (those in a consumer's hands stay, as on RabbitMQ)."""
        return self._count(queue, "DELETE FROM kombu_message WHERE " + _READY, rowcount=True)

    def _delete(self, queue, *args, **kwargs):
        queue_id = self._queue_id(queue, create=False)
        if queue_id is not None:
            with self._lock:
                self._db.execute("DELETE FROM kombu_message WHERE queue_id = ?", (queue_id,))

    def _count(self, queue, statement: str, *, rowcount: bool = False) -> int:
        queue_id = self._queue_id(queue, create=False)
        if queue_id is None:
            return 0
        with self._lock:
            cursor = self._db.execute(statement, {"queue": queue_id, "now": time.time()})
            return cursor.rowcount if rowcount else cursor.fetchone()[0]

    def queue_delete(self, queue, if_unused=False, if_empty=False, **kwargs):
        # kombu's virtual channel deletes only through the bindings this connection declared
        if if_empty and self._size(queue):
            return
        self._delete(queue)
        self.state.queue_bindings_delete(queue)

    # -- messages -------------------------------------------------------------------------------
    def _put(self, queue, message, **kwargs):
        queue_id = self._queue_id(queue, create=True)
        with self._lock:
            self._db.execute("INSERT INTO kombu_message (visible, payload, version, queue_id) VALUES (1, ?, 1, ?)",
                             (json.dumps(message), queue_id))

    def _get(self, queue, timeout=None):
        return self._take(queue, remove=queue in self._no_ack_queues)

    def _take(self, queue: str, *, remove: bool) -> dict:
        """The next ready message of *queue*: leased to this channel, or removed when it needs no ack."""
        queue_id = self._queue_id(queue, create=False)
        if queue_id is None:
            raise Empty()
        now = time.time()
        with self._lock:
            if self._db.execute(_ANY_READY, {"queue": queue_id, "now": now}).fetchone() is None:
                raise Empty()  # an empty poll takes no write lock
            if remove:
                rows = self._db.execute(_REMOVE_NEXT, {"queue": queue_id, "now": now}).fetchall()
                if not rows:
                    raise Empty()
                return json.loads(rows[0][0])
            rows = self._db.execute(_LEASE_NEXT, {"queue": queue_id, "now": now,
                                                  "until": now + self.lease_seconds}).fetchall()
            if not rows:
                raise Empty()
            row_id, version, payload = rows[0]
            tag = f"{row_id}.{version}"
            self._held.add(tag)
            self._keep_renewing()
        message = json.loads(payload)
        message["properties"]["delivery_tag"] = tag
        return message

    def basic_get(self, queue, no_ack=False, **kwargs):
        try:
            message = self.Message(self._take(queue, remove=no_ack), channel=self)
        except Empty:
            return None
        if not no_ack:
            self.qos.append(message, message.delivery_tag)
        return message

    def basic_consume(self, queue, no_ack, *args, **kwargs):
        if no_ack:
            self._no_ack_queues.add(queue)
        return super().basic_consume(queue, no_ack, *args, **kwargs)

    def basic_cancel(self, consumer_tag):
        queue = self._tag_to_queue.get(consumer_tag)
        super().basic_cancel(consumer_tag)
        self._no_ack_queues.discard(queue)

    # -- leases ---------------------------------------------------------------------------------
    def settle(self, delivery_tag: str, *, requeue: bool) -> None:
        """Deletes the message's row (ack, reject), or makes it visible again (requeue)."""
        with self._lock:
            self._db.execute(_RELEASE if requeue else _SETTLE, _row_version(delivery_tag))
            self._held.discard(delivery_tag)

    def release_all(self) -> None:
        """Every message in hand goes back to its queue (the channel is closing)."""
        with self._lock:
            held, self._held = self._held, set()
            if held and self._db is not None:
                try:
                    self._in_transaction(_RELEASE, [_row_version(tag) for tag in held])
                except sqlite3.Error as exc:  # their leases run out instead
                    log.warning("broker messages not released", extra={"count": len(held),
                                                                       "error": type(exc).__name__})

    def _keep_renewing(self) -> None:
        if self._renewer is None:
            self._renewer = threading.Thread(target=self._renew_until_closed, name="broker-leases", daemon=True)
            self._renewer.start()

    def _renew_until_closed(self) -> None:
        while not self._stopped.wait(self.lease_seconds / 3):
            with self._lock:
                if not self._held or self._db is None:
                    continue
                until = time.time() + self.lease_seconds
                try:
                    self._in_transaction(_RENEW, [(until, *_row_version(tag)) for tag in self._held])
                except sqlite3.Error as exc:  # tried again at the next turn, well within the lease
                    log.warning("broker lease renewal failed", extra={"error": type(exc).__name__})

    def _in_transaction(self, statement: str, rows: list[tuple]) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany(statement, rows)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def close(self):
        super().close()  # gives back the messages in hand (QoS.restore_unacked)
        self._stopped.set()
        if self._renewer is not None and self._renewer is not threading.current_thread():
            self._renewer.join(timeout=5)
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


class Transport(virtual.Transport):
    Channel = Channel
    can_parse_url = True  # the location is the SQLite URL itself
    default_port = 0
    driver_type = "sql"
    driver_name = "sqlite"
    polling_interval = 0.1  # an empty poll is one indexed read
    connection_errors = (sqlite3.OperationalError,)

    def driver_version(self):
        return sqlite3.sqlite_version
