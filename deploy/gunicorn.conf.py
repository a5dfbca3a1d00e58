"""gunicorn settings for every CareKey service, all from the environment.

PORT (default 8000), WEB_CONCURRENCY (worker processes, default one per core), GUNICORN_THREADS
(threads per worker, default 4), GUNICORN_WORKER_CLASS (default gthread) and
GUNICORN_MAX_REQUESTS (default 200,000). Chosen by measurement (`make bench BENCH_ARGS=--sweep`,
figures in deploy/README.md). One process per core runs Python on every core (the GIL
lets a process use one at a time); four threads per process keep it busy while requests wait for
PostgreSQL (a third to a half of a request's time in the profiles). It spent the least CPU per
token and refresh; more processes add memory and database connections (each has its own pool),
though records reads gained from four (deploy/README.md). sync workers close every connection, so
keep-alive clients (load balancers, portals) pay a TCP handshake per request.
"""
import multiprocessing
import os

from prometheus_client import multiprocess as prometheus_multiprocess  # imported once, not while shutting down

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
# a leak guard, not a tuning knob: a worker's start costs 1-2 s of CPU (imports, the app), so at 10,000
# a busy worker (750 requests/s) restarted every 13 s and spent a sixth of a core starting (bench/)
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "200000"))
max_requests_jitter = max_requests // 10
accesslog = None  # the services log each request themselves, as JSON, with its request id
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        prometheus_multiprocess.mark_process_dead(worker.pid)
