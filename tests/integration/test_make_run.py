"""`carekey run` (what `make run` starts): four services ready, URLs printed, Ctrl-C stops all,
and a second run on the same files works."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from services import SERVICES

PORTALS = ("riverside", "hillside")  # the demo practices' portals (examples/portal)


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


@pytest.fixture
def embedded_env(tmp_path):
    env = {key: value for key, value in os.environ.items()
           if key not in ("AMQP_URL", "DATABASE_URL", "CAREKEY_ENV") and not key.endswith("_DATABASE_URL")}
    ports = dict(zip([*SERVICES, *PORTALS], free_ports(len(SERVICES) + len(PORTALS))))
    env.update({f"{service.upper()}_PORT": str(ports[service]) for service in SERVICES})
    env.update({f"PORTAL_{practice.upper()}_PORT": str(ports[practice]) for practice in PORTALS})
    return env, ports


def start(cwd, env) -> tuple[subprocess.Popen, list[str]]:
    process = subprocess.Popen([sys.executable, "-m", "services.cli", "run"], cwd=cwd, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    lines = []
    deadline = time.monotonic() + 60
    for line in process.stdout:
        lines.append(line)
        if "Press Ctrl-C to stop" in line or time.monotonic() > deadline:
            break
    return process, lines


def stop(process: subprocess.Popen) -> int:
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends to the process group
    try:
        return process.wait(timeout=30)
    finally:
        process.stdout.close()


def test_run_starts_every_service_ready_prints_urls_and_stops_cleanly(tmp_path, embedded_env):
    env, ports = embedded_env
    for attempt in ("first run", "second run on the same files"):
        started = time.monotonic()
        process, lines = start(tmp_path, env)
        try:
            output = "".join(lines)
            assert "Press Ctrl-C to stop" in output, f"{attempt}: {output[-2000:]}"
            assert time.monotonic() - started < 60
            for service, port in ports.items():
                assert f"http://127.0.0.1:{port}" in output
                assert status(f"http://127.0.0.1:{port}/readyz") == 200, (attempt, service)
        finally:
            code = stop(process)
        assert code == 0, attempt
        assert all(status(f"http://127.0.0.1:{port}/healthz") == 0 for port in ports.values()), \
            f"{attempt}: every process stopped"
    assert {p.name for p in (tmp_path / "var").glob("*.sqlite")} == {
        "broker.sqlite", *(f"{service}.sqlite" for service in SERVICES)}


def test_run_refuses_a_busy_port_with_a_clear_message(tmp_path, embedded_env):
    env, ports = embedded_env
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", ports["records"]))
        blocker.listen()
        result = subprocess.run([sys.executable, "-m", "services.cli", "run"], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"records (127.0.0.1:{ports['records']})" in result.stderr and "RECORDS_PORT=" in result.stderr
    assert "Traceback" not in result.stderr
