"""``/healthz`` (the process is alive), ``/readyz`` (database and broker reachable), ``/metrics``."""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from flask import Blueprint, current_app, jsonify

from shared.metrics import metrics_response

log = logging.getLogger(__name__)

Check = Callable[[], None]


class CachedCheck:
    """Runs a readiness probe at most once per ``ttl`` seconds so probes cannot load a backend."""

    def __init__(self, name: str, probe: Check, ttl: float = 2.0) -> None:
        self.name, self.probe, self.ttl = name, probe, ttl
        self._lock = threading.Lock()
        self._at = 0.0
        self._error: str | None = None

    def __call__(self) -> str | None:
        with self._lock:
            now = time.monotonic()
            if now - self._at >= self.ttl:
                try:
                    self.probe()
                    self._error = None
                except Exception as exc:  # a probe reports, it never raises
                    log.warning("readiness check failed", extra={"check": self.name, "error": type(exc).__name__})
                    self._error = "unreachable"
                self._at = time.monotonic()
            return self._error


def health_blueprint(checks: dict[str, Check]) -> Blueprint:
    bp = Blueprint("health", __name__)
    cached = [CachedCheck(name, probe) for name, probe in checks.items()]

    @bp.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    @bp.get("/readyz")
    def readyz():
        results = {check.name: (check() or "ok") for check in cached}
        ready = all(value == "ok" for value in results.values())
        return jsonify(status="ready" if ready else "unavailable", checks=results), (200 if ready else 503)

    @bp.get("/metrics")
    def metrics():
        return metrics_response(current_app.extensions.get("carekey.table_rows"))

    return bp
