"""gunicorn settings for every CareKey service, all from the environment.

PORT (default 8000), WEB_CONCURRENCY (worker processes, default 2 per core), GUNICORN_THREADS
(threads per worker, default 4) and GUNICORN_WORKER_CLASS (default gthread: sync workers close
every connection, so keep-alive clients such as load balancers and portals pay a new TCP
handshake per request). The benchmarks in bench/ measure the choice.
"""
import multiprocessing
import os

from prometheus_client import multiprocess as prometheus_multiprocess  # imported once, not while shutting down

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
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
