"""Whole password sign-ins per second beside raw argon2id hashes per second, same run, same cores.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test AMQP_URL=amqp://guest:guest@127.0.0.1:5672// \\
        .venv/bin/python bench/password_signin.py --seconds 20 --concurrency 8

1. Raw: one process per core hashes passwords with identity's argon2id parameters for N seconds.
2. Sign-ins: identity under gunicorn (deploy/gunicorn.conf.py, WEB_CONCURRENCY = cores) on a fresh
   PostgreSQL database; C threads in this process each run authorize → login form → password →
   code → token, as a browser and a portal would, for N seconds.
Prints one table and writes bench/results/password-signin-<time>.json. A sign-in costs one
argon2id hash, so the raw rate is its physical limit here.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.notifications_throughput import fresh_database  # noqa: E402


def _hash_for(seconds: float, counter) -> None:
    from services.identity.domain.passwords import HASHER
    deadline, count = time.perf_counter() + seconds, 0
    while time.perf_counter() < deadline:
        HASHER.hash("correct horse battery staple")
        count += 1
    with counter.get_lock():
        counter.value += count


def raw_hash_rate(seconds: float) -> float:
    counter = multiprocessing.Value("i", 0)
    workers = [multiprocessing.Process(target=_hash_for, args=(seconds, counter)) for _ in range(os.cpu_count() or 1)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return counter.value / seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sign_in(base: str, client: dict, username: str, password: str, scope: str = "openid") -> dict | None:
    """authorize → login form → code → token, as a browser and a portal would; the token response."""
    http = requests.Session()
    page = http.get(f"{base}/authorize", params={"response_type": "code", "client_id": client["client_id"],
                                                  "redirect_uri": client["redirect_uris"][0], "scope": scope,
                                                  "state": "s"}, timeout=30)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    done = http.post(page.url + "/login", data={"username": username, "password": password, "csrf_token": csrf},
                     allow_redirects=False, timeout=30)
    back = http.get(base + done.headers["Location"], allow_redirects=False, timeout=30)
    code = parse_qs(urlsplit(back.headers["Location"]).query)["code"][0]
    token = http.post(f"{base}/token", data={"grant_type": "authorization_code", "code": code,
                                             "redirect_uri": client["redirect_uris"][0]},
                      auth=(client["client_id"], client["client_secret"]), timeout=30)
    return token.json() if token.status_code == 200 else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        print("set DATABASE_URL (PostgreSQL) and AMQP_URL", file=sys.stderr)
        return 2
    raw = raw_hash_rate(args.seconds)
    port = free_port()
    env = {**os.environ, "CAREKEY_ENV": "test", "IDENTITY_DATABASE_URL": fresh_database(os.environ["DATABASE_URL"],
           "carekey_bench_identity"), "IDENTITY_PUBLIC_URL": f"http://127.0.0.1:{port}", "PORT": str(port),
           "WEB_CONCURRENCY": str(os.cpu_count() or 2), "LOG_LEVEL": "WARNING",
           "IDENTITY_IP_FAILURES_PER_WINDOW": "1000000"}
    cli = [sys.executable, "-m", "services.cli"]
    subprocess.run([*cli, "db", "upgrade", "--service", "identity"], env=env, check=True, capture_output=True)
    client = json.loads(subprocess.run([*cli, "identity", "clients", "create", "--name", "Bench portal",
                                        "--redirect-uri", "https://bench.example/cb", "--first-party"], env=env,
                                       check=True, capture_output=True, text=True).stdout)
    users = [f"bench-user-{n}" for n in range(args.concurrency)]
    for user in users:
        subprocess.run([*cli, "identity", "accounts", "create", "--username", user, "--password",
                        "correct horse battery staple"], env=env, check=True, capture_output=True)
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy/gunicorn.conf.py"),
                               "services.identity.wsgi:app"], env=env, cwd=ROOT, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if requests.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        sign_in(base, client, users[0], "correct horse battery staple")  # warm up
        done, failed, latencies = [0], [0], []
        lock = threading.Lock()
        deadline = time.perf_counter() + args.seconds

        def loop(user: str) -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                ok = sign_in(base, client, user, "correct horse battery staple") is not None
                with lock:
                    (done if ok else failed)[0] += 1
                    latencies.append(time.perf_counter() - started)

        threads = [threading.Thread(target=loop, args=(user,)) for user in users]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    latencies.sort()
    rate = done[0] / elapsed
    result = {"flow": "password sign-in (authorize → login → code → token)", "sign_ins_per_second": round(rate, 1),
              "raw_argon2id_hashes_per_second": round(raw, 1), "ratio": round(rate / raw, 3) if raw else None,
              "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1) if latencies else None,
              "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1) if latencies else None,
              "failed": failed[0], "concurrency": args.concurrency, "seconds": args.seconds,
              "cores": os.cpu_count(), "at": datetime.now(timezone.utc).isoformat()}
    print(f"{'flow':<52} {'per s':>7} {'limit':>7} {'ratio':>6} {'p50 ms':>7} {'p99 ms':>7}")
    print(f"{result['flow']:<52} {result['sign_ins_per_second']:>7} {result['raw_argon2id_hashes_per_second']:>7} "
          f"{result['ratio']:>6} {result['p50_ms']:>7} {result['p99_ms']:>7}")
    out = ROOT / "bench" / "results" / f"password-signin-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(result, indent=2))
    return 0 if failed[0] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
