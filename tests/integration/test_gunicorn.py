"""The production entry point: each service under gunicorn with deploy/gunicorn.conf.py."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import free_ports, http_status

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("service", ["identity", "records"])
def test_service_serves_under_gunicorn_with_multiprocess_metrics(suite, service, tmp_path):
    [port] = free_ports(1)
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    env = {**os.environ, **suite.environ(service), "PORT": str(port), "WEB_CONCURRENCY": "2",
           "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy/gunicorn.conf.py"),
                                f"services.{service}.wsgi:app"], env=env, cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while http_status(f"{base}/readyz") != 200 and time.monotonic() < deadline:
            assert process.poll() is None, process.stderr.read()
            time.sleep(0.2)
        assert http_status(f"{base}/readyz") == 200
        for _ in range(10):
            http_status(f"{base}/healthz")
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
            text = response.read().decode()
        line = next(l for l in text.splitlines()
                    if l.startswith("carekey_http_requests_total") and 'endpoint="/healthz"' in l)
        assert float(line.rsplit(" ", 1)[1]) == 10.0, "every worker's requests are counted"
    finally:
        time.sleep(1.0)  # let every worker finish booting: SIGTERM during a boot is a boot failure
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode == 0, process.stderr.read()[-3000:]
