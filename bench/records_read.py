"""Records reads per second with token verification, beside bare JWT verifications per second
measured in the same run, on PostgreSQL.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test AMQP_URL=amqp://guest:guest@127.0.0.1:5672// \\
        .venv/bin/python bench/records_read.py --seconds 15 --concurrency 8

Identity and records run under gunicorn (deploy/gunicorn.conf.py) on fresh databases; the records
store holds the demo charts. A patient signs in once (a real code flow) and C threads read
``GET /Observation?patient=rv-1001`` for N seconds. The limit beside it: one process per core
verifying the same access token with shared.tokens (signature, iss, aud, exp) as fast as it can.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.notifications_throughput import fresh_database  # noqa: E402
from bench.password_signin import free_port, sign_in  # noqa: E402

PASSWORD = "correct horse battery staple"
SCOPE = "openid launch/patient patient/*.rs"


def _verify_for(seconds: float, token: str, issuer: str, audience: str, counter) -> None:
    from shared.tokens import AccessTokenVerifier, JwksCache, jwks_url
    verifier = AccessTokenVerifier(issuer=issuer, audience=audience, keys=JwksCache(jwks_url(issuer)))
    verifier.verify(token)
    deadline, count = time.perf_counter() + seconds, 0
    while time.perf_counter() < deadline:
        verifier.verify(token)
        count += 1
    with counter.get_lock():
        counter.value += count


def serve(module: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy/gunicorn.conf.py"), module],
                            env=env, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def wait_ready(base: str) -> None:
    for _ in range(150):
        try:
            if requests.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{base} not ready")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    admin = os.environ.get("DATABASE_URL")
    if not admin:
        print("set DATABASE_URL (PostgreSQL) and AMQP_URL", file=sys.stderr)
        return 2
    identity_port, records_port = free_port(), free_port()
    identity, records = f"http://127.0.0.1:{identity_port}", f"http://127.0.0.1:{records_port}"
    env = {**os.environ, "CAREKEY_ENV": "test", "LOG_LEVEL": "WARNING", "WEB_CONCURRENCY": str(os.cpu_count() or 2),
           "IDENTITY_DATABASE_URL": fresh_database(admin, "carekey_bench_identity_r"),
           "RECORDS_DATABASE_URL": fresh_database(admin, "carekey_bench_records"),
           "IDENTITY_PUBLIC_URL": identity, "IDENTITY_RECORDS_AUDIENCE": records, "RECORDS_PUBLIC_URL": records,
           "RECORDS_IDENTITY_ISSUER": identity, "RECORDS_AUDIENCE": records}
    cli = [sys.executable, "-m", "services.cli"]
    for service in ("identity", "records"):
        subprocess.run([*cli, "db", "upgrade", "--service", service], env=env, check=True, capture_output=True)
    subprocess.run([sys.executable, "-c", "from services import registry; app = registry.create_app('records'); "
                    "app.app_context().push(); registry.demo('records').seed(app)"], env=env, cwd=ROOT, check=True,
                   capture_output=True)
    client = json.loads(subprocess.run([*cli, "identity", "clients", "create", "--name", "Bench portal",
                                        "--redirect-uri", "https://bench.example/cb", "--first-party",
                                        "--practice", "riverside", "--scope", SCOPE], env=env, check=True,
                                       capture_output=True, text=True).stdout)
    subprocess.run([*cli, "identity", "accounts", "create", "--username", "bench-reader", "--password", PASSWORD],
                   env=env, check=True, capture_output=True)
    subprocess.run([*cli, "identity", "accounts", "link", "--username", "bench-reader", "--practice", "riverside",
                    "--patient", "rv-1001", "--display-name", "Alex Rivera"], env=env, check=True, capture_output=True)
    servers = [serve("services.identity.wsgi:app", {**env, "PORT": str(identity_port)}),
               serve("services.records.wsgi:app", {**env, "PORT": str(records_port)})]
    try:
        wait_ready(identity)
        wait_ready(records)
        token = sign_in(identity, client, "bench-reader", PASSWORD, SCOPE)["access_token"]
        counter = multiprocessing.Value("i", 0)
        verifiers = [multiprocessing.Process(target=_verify_for, args=(args.seconds, token, identity, records, counter))
                     for _ in range(os.cpu_count() or 1)]
        for v in verifiers:
            v.start()
        for v in verifiers:
            v.join()
        bare = counter.value / args.seconds
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}
        url = f"{records}/Observation?patient=rv-1001"
        first = requests.get(url, headers=headers, timeout=30)
        assert first.status_code == 200, first.text[:300]
        done, failed, latencies, lock = [0], [0], [], threading.Lock()
        deadline = time.perf_counter() + args.seconds

        def loop() -> None:
            http = requests.Session()
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                ok = http.get(url, headers=headers, timeout=30).status_code == 200
                with lock:
                    (done if ok else failed)[0] += 1
                    latencies.append(time.perf_counter() - started)

        threads = [threading.Thread(target=loop) for _ in range(args.concurrency)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
    finally:
        for server in servers:
            os.killpg(server.pid, signal.SIGTERM)
        for server in servers:
            server.wait(timeout=30)
    latencies.sort()
    result = {"flow": "records read (token check, policy, FHIR search, audit)", "reads_per_second": round(done[0] / elapsed, 1),
              "bare_jwt_verifications_per_second": round(bare, 1),
              "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
              "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1), "failed": failed[0],
              "concurrency": args.concurrency, "seconds": args.seconds, "at": datetime.now(timezone.utc).isoformat()}
    print(f"{'flow':<56} {'per s':>7} {'bare JWT/s':>10} {'p50 ms':>7} {'p99 ms':>7}")
    print(f"{result['flow']:<56} {result['reads_per_second']:>7} {result['bare_jwt_verifications_per_second']:>10} "
          f"{result['p50_ms']:>7} {result['p99_ms']:>7}")
    (ROOT / "bench" / "results" / f"records-read-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}.json").write_text(
        json.dumps(result, indent=2))
    return 0 if failed[0] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
