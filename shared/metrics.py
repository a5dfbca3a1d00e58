"""Prometheus metrics served at ``/metrics``: request counts and latencies, and the row counts of the
tables that grow (each outbox, pending and published; notifications' state rows by status).

Under gunicorn with several workers set ``PROMETHEUS_MULTIPROC_DIR`` so every worker's samples
are aggregated (prometheus_client's multiprocess mode). Row counts are the serving process's own:
counted in a background thread at most every ``TableRows.max_age`` seconds, so a scrape never waits
for a count (the first scrape of a process starts one and shows none yet).
"""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Iterator, Sequence

from flask import Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import Engine, Select, Table, case, func, select

log = logging.getLogger(__name__)

REQUESTS = Counter("carekey_http_requests_total", "HTTP requests handled",
                   ["service", "method", "endpoint", "status"])
LATENCY = Histogram("carekey_http_request_seconds", "HTTP request latency",
                    ["service", "method", "endpoint"],
                    buckets=(.002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5))


def install_metrics(app: Flask, service: str) -> None:
    @app.before_request
    def _start_timer() -> None:
        g._metrics_start = time.perf_counter()

    @app.after_request
    def _observe(response):
        start = g.pop("_metrics_start", None)
        if start is not None:
            endpoint = request.url_rule.rule if request.url_rule else "unmatched"
            LATENCY.labels(service, request.method, endpoint).observe(time.perf_counter() - start)
            REQUESTS.labels(service, request.method, endpoint, str(response.status_code)).inc()
        return response


@dataclass(frozen=True)
class CountedTable:
    """A table whose size /metrics shows: ``count`` selects (state, rows) pairs; every state in
    ``states`` is reported, with 0 when it has no rows."""
    name: str
    count: Select
    states: Sequence[str]


def outbox_rows(outbox: Table) -> CountedTable:
    """A service's outbox (shared.messaging.outbox): rows waiting for the relay, and rows published."""
    state = case((outbox.c.published_at.is_(None), "pending"), else_="published")
    return CountedTable(outbox.name, select(state, func.count()).group_by(state), ("pending", "published"))


class TableRows:
    """The ``carekey_table_rows`` gauge of one service, by table and state."""

    max_age = 30.0  # seconds between two counts

    def __init__(self, service: str, engine: Engine, tables: Sequence[CountedTable]) -> None:
        self.service, self.engine, self.tables = service, engine, tables
        self._lock = threading.Lock()
        self._counting = False
        self._counted_at: float | None = None
        self._rows: dict[tuple[str, str], int] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        self._count_in_background_if_stale()
        family = GaugeMetricFamily("carekey_table_rows", f"Rows per table and state, counted at most every "
                                   f"{self.max_age:.0f} s", labels=["service", "table", "state"])
        for (table, state), rows in sorted(self._rows.items()):
            family.add_metric([self.service, table, state], rows)
        yield family

    def _count_in_background_if_stale(self) -> None:
        with self._lock:
            fresh = self._counted_at is not None and time.monotonic() - self._counted_at < self.max_age
            if self._counting or fresh:
                return
            self._counting = True
        threading.Thread(target=self._count, name="table-rows", daemon=True).start()

    def _count(self) -> None:
        try:
            rows = {}
            with self.engine.connect() as conn:
                for table in self.tables:
                    counted = dict(conn.execute(table.count).all())
                    rows.update({(table.name, state): counted.get(state, 0) for state in table.states})
            self._rows = rows
        except Exception as exc:  # the database is down: the last counts stay
            log.warning("table rows not counted", extra={"error": type(exc).__name__})
        finally:
            with self._lock:
                self._counting, self._counted_at = False, time.monotonic()


def install_table_rows(app: Flask, service: str, engine: Engine, tables: Sequence[CountedTable]) -> None:
    registry = CollectorRegistry()
    registry.register(TableRows(service, engine, tables))
    app.extensions["carekey.table_rows"] = registry


def metrics_response(own: CollectorRegistry | None = None) -> Response:
    """Every worker's request metrics (aggregated in multiprocess mode), then this process's *own*."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest()
    if own is not None:
        body += generate_latest(own)
    return Response(body, mimetype=CONTENT_TYPE_LATEST)
