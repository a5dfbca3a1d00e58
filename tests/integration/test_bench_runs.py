"""`make bench` runs end to end: every flow for about a second, on this machine's PostgreSQL and RabbitMQ,
under gunicorn and wrk exactly as the real benchmark runs them. Nothing is timed here (speed is
`make bench`'s to report); a flow that fails, or leaves its row empty, fails the test, so a refactor
cannot break the benchmark silently."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bench import flows

ROOT = Path(__file__).resolve().parents[2]


def _free_block(size: int = 10) -> int:
    """A base port whose next *size* ports are all free, below the kernel's ephemeral range (32768 and up:
    any outgoing connection may take one of those between this check and the bench's servers starting)."""
    for base in [*range(10000 + os.getpid() % 200 * 100, 32000, 100), *range(10000, 32000, 100)]:
        sockets = []
        try:
            for offset in range(1, size):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no free block of ports")


@pytest.mark.xdist_group("bench")
def test_every_bench_flow_runs_and_fills_its_row(real_broker, backends, worker_id_safe, tmp_path):
    prefix = f"carekey_test_{os.environ.get('CAREKEY_TEST_DB_PREFIX', '')}{worker_id_safe}_bench"
    env = {**os.environ, "BENCH_DATABASE_URL": backends.database_url, "BENCH_AMQP_URL": real_broker}
    output = tmp_path / "bench.log"
    with output.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-u", "-m", "bench.run", "--seconds", "1", "--warmup-seconds", "1", "--limit-seconds",
             "0.5", "--signin-seconds", "1", "--messages", "200", "--match-patients", "2000", "--fresh-roster",
             "--drop-roster", "--database-prefix", prefix, "--base-port", str(_free_block()), "--results",
             str(tmp_path)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = process.wait(timeout=900)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGINT)  # the bench stops what it started on Ctrl-C
            process.wait(timeout=60)
            code = "timed out"
    assert code == 0, f"bench.run: {code}\n" + output.read_text()[-8000:]
    report = json.loads((tmp_path / "latest.json").read_text())
    assert report["failures"] == []
    rows = report["flows"]
    assert all(row["per_second"] and row["per_second"] > 0 for row in rows), [
        (row["flow"], row["per_second"]) for row in rows if not row["per_second"]]
    assert all(row["limit_name"] for row in rows if row["target"] is not None), "each target beside its limit"
    # one row (or more) per flow: the table is whole
    assert len(rows) >= len(flows.FLOWS)
    assert any("records read" in row["flow"] for row in rows)
    assert any("$match" in row["flow"] for row in rows)
