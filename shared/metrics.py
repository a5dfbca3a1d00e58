"""Prometheus metrics: request counts and latencies, served at ``/metrics``.

Under gunicorn with several workers set ``PROMETHEUS_MULTIPROC_DIR`` so every worker's samples
are aggregated (prometheus_client's multiprocess mode).
"""
from __future__ import annotations

import os
import time

from flask import Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess

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


def metrics_response() -> Response:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)
