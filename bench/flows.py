"""The flows ``make bench`` measures. Each is a function ``flow(ctx: Context) -> Row``; FLOWS
lists them in table order. A new flow is one more function here (or in its own module, as
registration's ``$match`` in bench/match_flow.py) appended to FLOWS; see bench/README.md."""
from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

import requests

from bench import limits
from bench.context import Context, Row
from bench.match_flow import match
from bench.seed import PASSWORD, READER, REDIRECT_URI, seed_refresh_grants, sign_in


# -- identity -----------------------------------------------------------------------------------
def discovery(ctx: Context) -> Row:
    identity = ctx.identity()
    paths = "/.well-known/openid-configuration /.well-known/jwks.json"
    row = ctx.measure("JWKS + discovery (GET, 200)", [identity], identity.url, "get.lua",
                      env={"BENCH_PATHS": paths}, target=5000, connections=32)
    ctx.limit(row, "hello")
    etags = []
    for path in paths.split():
        answer = requests.get(identity.url + path, timeout=10)
        etags.append(answer.headers.get("ETag", "none"))
        again = requests.get(identity.url + path, headers={"If-None-Match": etags[-1]}, timeout=10)
        row.notes.append(f"{path}: ETag {'yes' if 'ETag' in answer.headers else 'NO'}, "
                         f"revalidation {again.status_code}, Cache-Control {answer.headers.get('Cache-Control')}")
    revalidate = ctx.measure("JWKS + discovery revalidation (304)", [identity], identity.url, "get.lua",
                             env={"BENCH_PATHS": paths, "BENCH_IF_NONE_MATCH": " ".join(etags)}, target=5000,
                             connections=32, expect_status=304)
    ctx.limit(revalidate, "hello")
    return [row, revalidate]


def client_credentials(ctx: Context) -> Row:
    identity = ctx.identity()
    row = ctx.measure("client_credentials token (client in PostgreSQL)", [identity], identity.url,
                      "client_credentials.lua", env={"BENCH_BASIC": ctx.seed.service.basic}, target=3000,
                      connections=16)
    ctx.limit(row, "minimal_token")
    row.notes.append(f"raw ES256 signatures: {ctx.measured('es256'):,.0f}/s (one process per core)")
    return row


def refresh_token(ctx: Context) -> Row:
    identity = ctx.identity()
    connections = ctx.options.refresh_connections

    def fresh_chains(attempt: int) -> dict:  # a rotated token is never presented again: new grants per run
        tokens = seed_refresh_grants(ctx.env["identity"], ctx.seed.portal, READER, connections * 4)
        path = ctx.work_dir / f"refresh-tokens-{attempt}.txt"
        path.write_text("\n".join(tokens) + "\n")
        return {"BENCH_BASIC": ctx.seed.portal.basic, "BENCH_TOKENS": str(path)}

    row = ctx.measure("refresh_token grant (rotation, reuse detection)", [identity], identity.url,
                      "refresh_token.lua", env=fresh_chains(0), env_for_attempt=fresh_chains,
                      target=1500, connections=connections, threads=connections, warmup=False)
    row.notes.append(f"{connections} rotation chains (one per connection), each presenting the token the "
                     f"previous answer returned; {row.extra.get('flows_failed', 0)} refused")
    ctx.limit(row, "es256")
    return row


def password_sign_in(ctx: Context) -> Row:
    identity = ctx.identity()
    hashes = ctx.measured("argon2id")
    users = len(ctx.seed.signin_users)
    row = ctx.measure("password sign-in (authorize → login → code → token)", [identity], identity.url,
                      "signin.lua", env={"BENCH_CLIENT_ID": ctx.seed.portal.client_id,
                                         "BENCH_BASIC": ctx.seed.portal.basic, "BENCH_REDIRECT_URI": REDIRECT_URI,
                                         "BENCH_PASSWORD": PASSWORD, "BENCH_USER_PREFIX": "bench-user-"},
                      connections=users, threads=users, per="flow", seconds=ctx.options.signin_seconds)
    ctx.limit(row, "argon2id")
    row.target_text = "≥ 85 % of argon2id/s"
    row.met = bool(hashes) and row.per_second >= 0.85 * hashes
    row.notes.append(f"ratio to raw argon2id: {row.per_second / hashes:.2f}" if hashes else "no hash rate")
    return row


# -- records ------------------------------------------------------------------------------------
def records_read(ctx: Context) -> Row:
    identity, records = ctx.identity(), ctx.records()
    token = sign_in(identity.url, ctx.seed.portal, READER)["access_token"]
    jwks = requests.get(identity.url + "/.well-known/jwks.json", timeout=10).json()
    ctx.measure_limit("jwt", "bare JWT verifications/s", lambda: limits.jwt_verifications(
        ctx.options.limit_seconds, token, identity.url, records.url, jwks))
    path = "/Observation?patient=rv-1001"
    first = requests.get(records.url + path, headers={"Authorization": f"Bearer {token}",
                                                      "Accept": "application/fhir+json"}, timeout=30)
    if first.status_code != 200:
        raise RuntimeError(f"records read answered {first.status_code}: {first.text[:300]}")
    row = ctx.measure("records read GET /Observation?patient= (token, policy, store, audit)", [records],
                      records.url, "get.lua", env={"BENCH_PATHS": path, "BENCH_BEARER": token,
                                                   "BENCH_ACCEPT": "application/fhir+json"},
                      target=2000, connections=16)
    ctx.limit(row, "jwt")
    row.notes.append(f"{len(first.json().get('entry', []))} Observations per answer, {len(first.content)} bytes")
    return row


# -- notifications ------------------------------------------------------------------------------
NOTIFICATION_PUBLISHERS = 4
SMTP_MESSAGES = 3000  # one worker at a few hundred a second: a run of ten seconds or so


def notifications(ctx: Context) -> Row:
    """Verification codes by text to the console provider (the local outbox table), several workers."""
    from sqlalchemy import func, select

    from services.notifications.db.models import LocalOutboxMessage

    def copies(engine) -> dict[str, int]:
        with engine.connect() as conn:
            return dict(conn.execute(select(LocalOutboxMessage.notification_id, func.count())
                                     .group_by(LocalOutboxMessage.notification_id)).all())

    return _publish_until_sent(ctx, "console provider", "sms", ctx.options.messages, ctx.options.notification_workers,
                               {}, copies, target=1000)


def notifications_smtp(ctx: Context) -> Row:
    """Verification codes by email to a real SMTP server (the tests' aiosmtpd), one worker."""
    from tests.fakes.smtp import FakeSmtp

    smtp = FakeSmtp().start()
    try:
        def copies(_engine) -> dict[str, int]:
            with smtp.lock:
                ids = [str(message["Message-ID"]).strip("<>").split("@")[0] for message in smtp.messages]
            counted: dict[str, int] = {}
            for message_id in ids:
                counted[message_id] = counted.get(message_id, 0) + 1
            return counted

        env = {"NOTIFICATIONS_EMAIL_BACKEND": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp.port)}
        return _publish_until_sent(ctx, "SMTP to aiosmtpd", "email", min(ctx.options.messages, SMTP_MESSAGES), 1,
                                   env, copies, target=None)
    finally:
        smtp.stop()


def _publish_until_sent(ctx: Context, provider: str, channel: str, count: int, worker_count: int, env_extra: dict,
                        copies: Callable, *, target: float | None) -> Row:
    """Publishes ``count`` requests to RabbitMQ for ``worker_count`` workers and measures publish → ``sent``;
    ``copies(engine)`` counts what the provider received per notification id (none lost, none doubled)."""
    from kombu import Producer
    from sqlalchemy import func, select

    from services.notifications.db.models import Notification
    from shared.database import make_engine
    from shared.messaging.broker import connect
    from shared.messaging.envelope import make_envelope
    from shared.messaging.notifications import EVENT_TYPE
    from shared.messaging.topology import DEFAULT_EXCHANGE, WorkQueue, declare

    options = ctx.options
    queue = WorkQueue(f"bench.notify.{uuid.uuid4().hex[:8]}", routing_keys=("bench.none",), backoff=(1.0,))
    env = {**ctx.env["notifications"], "NOTIFICATIONS_QUEUE": queue.name, "NOTIFICATIONS_ROUTING_KEY": "bench.none",
           "NOTIFICATIONS_RETRY_BACKOFF": "1", **env_extra}
    amqp = ctx.amqp_url
    with connect(amqp) as conn:
        declare(conn, queue.all_queues())
    engine = make_engine(env["NOTIFICATIONS_DATABASE_URL"])
    with engine.begin() as conn:  # a flow after another starts from an empty table
        conn.execute(Notification.__table__.delete())
    workers = [ctx.start_worker(f"notifications-worker-{n}", ["notifications", "worker"], env)
               for n in range(worker_count)]
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # every worker has its consumer on the queue
            with connect(amqp) as conn:
                consumers = queue.work_queue()(conn.default_channel).queue_declare(passive=True).consumer_count
            if consumers >= len(workers):
                break
            time.sleep(0.2)
        ids = [str(uuid.uuid4()) for _ in range(count)]
        bodies = []
        for n, message_id in enumerate(ids):
            recipient = {"phone": f"+1555{n:07d}"} if channel == "sms" else {"email": f"bench-{n}@example.org"}
            envelope = make_envelope(EVENT_TYPE, {
                "channel": channel, "recipient": recipient, "template": "verification_code",
                "variables": {"code": f"{n % 1000000:06d}", "minutes": 10}, "locale": "en", "expires_at": None})
            envelope["id"] = message_id
            bodies.append(json.dumps(envelope))
        profilers = [ctx._profile("notifications", w, 10) for w in workers] if options.profile else []
        before = ctx.cpu_snapshot(workers)
        published_at = {}
        started = time.perf_counter()

        def publish(share: list[tuple[str, str]]) -> None:
            with connect(amqp) as conn:  # confirmed publishes: one broker round trip each
                producer = Producer(conn.default_channel)
                for message_id, body in share:
                    published_at[message_id] = time.time()
                    producer.publish(body, exchange=DEFAULT_EXCHANGE, routing_key=queue.name,
                                     content_type="application/json", delivery_mode=2)

        # several publishers, so that the publishing side (a confirm round trip per message) is not
        # what the flow measures
        pairs = list(zip(ids, bodies))
        publishers = [threading.Thread(target=publish, args=(pairs[n::NOTIFICATION_PUBLISHERS],))
                      for n in range(NOTIFICATION_PUBLISHERS)]
        for publisher in publishers:
            publisher.start()
        for publisher in publishers:
            publisher.join()
        published = time.perf_counter()
        sent = 0
        while time.perf_counter() - started < options.notification_timeout:
            with engine.connect() as conn:
                sent = conn.execute(select(func.count()).select_from(Notification.__table__)
                                    .where(Notification.status == "sent")).scalar_one()
            if sent >= count:
                break
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
        after = ctx.cpu_snapshot(workers)
        for profiler in profilers:
            profiler.popen.wait(timeout=60)
        per_id = copies(engine)
        with engine.connect() as conn:
            sent_at = dict(conn.execute(select(Notification.id, Notification.sent_at)
                                        .where(Notification.status == "sent")).all())
    finally:
        for worker in workers:
            ctx.processes.stop(worker)
        with connect(amqp) as conn:
            for declared in queue.all_queues():
                declared(conn.default_channel).delete()
        engine.dispose()
    lost = sum(1 for message_id in ids if per_id.get(message_id, 0) == 0)
    doubled = sum(1 for message_id in ids if per_id.get(message_id, 0) > 1)
    latencies = sorted((sent_at[m].timestamp() if sent_at[m].tzinfo else
                        sent_at[m].replace(tzinfo=__import__("datetime").timezone.utc).timestamp())
                       - published_at[m] for m in ids if sent_at.get(m))
    row = Row(flow=f"notifications publish → sent (RabbitMQ, {provider}, {len(workers)} "
                   f"worker{'s' if len(workers) > 1 else ''})",
              per_second=sent / elapsed if elapsed else 0.0, unit="msg/s",
              p50_ms=_pct(latencies, 50) * 1000 if latencies else None,
              p99_ms=_pct(latencies, 99) * 1000 if latencies else None, requests=sent,
              failed=lost + doubled, target=target, seconds=elapsed)
    ctx.cpu_per_request(row, before, after)
    row.met = None if target is None else row.per_second >= target and lost == 0 and doubled == 0
    row.limit_name = "none lost / doubled"
    row.limit_value = None
    row.extra.update(lost=lost, doubled=doubled, publish_per_second=round(count / (published - started), 1))
    row.notes.append(f"{count} messages; lost {lost}, doubled {doubled}; published at "
                     f"{row.extra['publish_per_second']}/s; latency = publish → sent row")
    return row


def _pct(values: list[float], p: float) -> float:
    return values[max(0, min(len(values) - 1, int(round(len(values) * p / 100)) - 1))]


@dataclass
class Flow:
    name: str
    run: Callable[[Context], Row | list[Row]]
    services: tuple[str, ...] = field(default_factory=tuple)


def http_ceiling(ctx: Context) -> list[Row]:
    """The bare WSGI and Flask 'hello' apps alone (also measured on first use as a limit)."""
    ctx.measured("hello")
    rows, ctx.extra_rows = ctx.extra_rows, []
    return rows


FLOWS: list[Flow] = [
    Flow("http_ceiling", http_ceiling, ()),
    Flow("discovery", discovery, ("identity",)),
    Flow("client_credentials", client_credentials, ("identity",)),
    Flow("refresh_token", refresh_token, ("identity",)),
    Flow("records_read", records_read, ("identity", "records")),
    Flow("password_sign_in", password_sign_in, ("identity",)),
    Flow("notifications", notifications, ("notifications",)),
    Flow("notifications_smtp", notifications_smtp, ("notifications",)),
    Flow("match", match, ("identity", "registration")),
]
