"""Notifications from publish to sent, sustained, on PostgreSQL and RabbitMQ with fake providers.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test AMQP_URL=amqp://guest:guest@127.0.0.1:5672// \\
        .venv/bin/python bench/notifications_throughput.py --messages 3000 --workers 2 --provider console

Starts W worker processes (`carekey notifications worker`) on a private queue and a fresh database,
publishes N verification-code requests, and measures the time until every one is recorded `sent`.
It then checks that each was sent exactly once (none lost, none doubled). Providers: `console`
(the local outbox table, i.e. a database write per message) or `twilio` (the fake Twilio HTTP server
from the tests). Prints one table row and writes bench/results/notifications-<time>.json.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from kombu import Producer
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services import registry  # noqa: E402
from services.notifications.db.models import LocalOutboxMessage, Notification  # noqa: E402
from shared.database import make_engine, normalise_url  # noqa: E402
from shared.messaging.broker import connect  # noqa: E402
from shared.messaging.envelope import make_envelope  # noqa: E402
from shared.messaging.notifications import EVENT_TYPE  # noqa: E402
from shared.messaging.topology import DEFAULT_EXCHANGE, WorkQueue, declare  # noqa: E402
from shared.migrations import upgrade  # noqa: E402


def fresh_database(admin_url: str, name: str) -> str:
    url = make_url(normalise_url(admin_url))
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--provider", choices=["console", "twilio"], default="console")
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    database_url, amqp_url = os.environ.get("DATABASE_URL"), os.environ.get("AMQP_URL")
    if not (database_url and amqp_url and amqp_url.startswith("amqp")):
        print("set DATABASE_URL (PostgreSQL) and AMQP_URL (RabbitMQ)", file=sys.stderr)
        return 2
    url = fresh_database(database_url, "carekey_bench_notifications")
    environ = {"CAREKEY_ENV": "test", "AMQP_URL": amqp_url, "NOTIFICATIONS_DATABASE_URL": url,
               "NOTIFICATIONS_MAX_PER_RECIPIENT_HOUR": "1000000", "NOTIFICATIONS_MAX_PER_RECIPIENT_DAY": "1000000"}
    upgrade(registry.migrations("notifications", registry.settings("notifications", environ)))
    queue = WorkQueue(f"bench.notify.{uuid.uuid4().hex[:8]}", routing_keys=("bench.none",), backoff=(1.0,))
    env = {**os.environ, **environ, "NOTIFICATIONS_QUEUE": queue.name, "NOTIFICATIONS_ROUTING_KEY": "bench.none",
           "NOTIFICATIONS_RETRY_BACKOFF": "1", "LOG_LEVEL": "WARNING", "NOTIFICATIONS_PREFETCH": "32"}
    fake = None
    if args.provider == "twilio":
        from tests.fakes import twilio as fake_twilio
        fake = fake_twilio.FakeTwilio()
        env.update(NOTIFICATIONS_SMS_BACKEND="twilio", TWILIO_ACCOUNT_SID=fake_twilio.ACCOUNT_SID,
                   TWILIO_AUTH_TOKEN=fake_twilio.AUTH_TOKEN, TWILIO_FROM_NUMBER=fake_twilio.FROM_NUMBER,
                   TWILIO_API_URL=fake.url)
    else:
        env.update(NOTIFICATIONS_SMS_BACKEND="console", NOTIFICATIONS_EMAIL_BACKEND="console")
    with connect(amqp_url) as conn:
        declare(conn, queue.all_queues())
    workers = [subprocess.Popen([sys.executable, "-m", "services.cli", "notifications", "worker"], env=env,
                                cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL)
               for _ in range(args.workers)]
    engine = make_engine(url)
    try:
        time.sleep(3)  # workers connect
        bodies = [json.dumps(make_envelope(EVENT_TYPE, {
            "channel": "sms", "recipient": {"phone": f"+1555{n:07d}"}, "template": "verification_code",
            "variables": {"code": f"{n % 1000000:06d}", "minutes": 10}, "locale": "en", "expires_at": None}))
            for n in range(args.messages)]
        cpu_before = sum(_cpu(p.pid) for p in workers)
        started = time.perf_counter()
        with connect(amqp_url) as conn:
            producer = Producer(conn.default_channel)
            for body in bodies:
                producer.publish(body, exchange=DEFAULT_EXCHANGE, routing_key=queue.name,
                                 content_type="application/json", delivery_mode=2)
        published = time.perf_counter()
        sent = 0
        while time.perf_counter() - started < args.timeout:
            with engine.connect() as conn:
                sent = conn.execute(select(func.count()).select_from(Notification.__table__)
                                    .where(Notification.status == "sent")).scalar_one()
            if sent >= args.messages:
                break
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        cpu = sum(_cpu(p.pid) for p in workers) - cpu_before
        with engine.connect() as conn:
            if args.provider == "console":
                per_id = conn.execute(select(LocalOutboxMessage.notification_id, func.count())
                                      .group_by(LocalOutboxMessage.notification_id)).all()
                deliveries = {row[0]: row[1] for row in per_id}
            else:
                deliveries = {}
                for recorded in fake.requests:
                    deliveries[recorded.form["To"]] = deliveries.get(recorded.form["To"], 0) + 1
        doubled = sum(1 for count in deliveries.values() if count > 1)
        lost = args.messages - len(deliveries)
    finally:
        for worker in workers:
            os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=30)
        with connect(amqp_url) as conn:
            for declared in queue.all_queues():
                declared(conn.default_channel).delete()
        if fake:
            fake.close()
    result = {"flow": f"notifications publish→sent ({args.provider})", "messages": args.messages,
              "workers": args.workers, "seconds": round(elapsed, 2), "per_second": round(sent / elapsed, 1),
              "publish_per_second": round(args.messages / (published - started), 1),
              "worker_cpu_ms_per_message": round(cpu * 1000 / max(sent, 1), 3) if cpu else None,
              "sent": sent, "lost": lost, "doubled": doubled,
              "at": datetime.now(timezone.utc).isoformat()}
    print(f"{'flow':<40} {'msgs':>6} {'workers':>7} {'msg/s':>8} {'cpu ms/msg':>10} {'lost':>5} {'doubled':>7}")
    print(f"{result['flow']:<40} {sent:>6} {args.workers:>7} {result['per_second']:>8} "
          f"{str(result['worker_cpu_ms_per_message']):>10} {lost:>5} {doubled:>7}")
    out = ROOT / "bench" / "results" / f"notifications-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(result, indent=2))
    return 0 if lost == 0 and doubled == 0 else 1


def _cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


if __name__ == "__main__":
    _ = resource
    sys.exit(main())
