"""``make bench``: the suite under gunicorn on PostgreSQL and RabbitMQ, driven by wrk from its own
process; one table of every flow beside the physical limit measured in the same run.

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test BENCH_AMQP_URL=amqp://guest:guest@127.0.0.1:5672// \\
        .venv/bin/python -m bench.run [--only discovery,records_read] [--seconds 10]

Fresh databases ``carekey_bench_<service>`` are created and migrated at the start (and dropped at
the end unless --keep). Results: bench/results/<UTC time>.json and bench/results/latest.json.
Every process started is stopped at the end, on failure and on Ctrl-C.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.context import Context, Options, Row  # noqa: E402
from bench.flows import FLOWS  # noqa: E402
from bench.loadgen import ensure_wrk  # noqa: E402
from bench.match_flow import roster_database  # noqa: E402
from bench.suite import (Processes, drop_database, fresh_database, gunicorn_settings, install_cleanup,  # noqa: E402
                         machine_cpu)

RESULTS = ROOT / "bench" / "results"
DEFAULT_SWEEP = "gthread:2:4,gthread:4:2,gthread:4:1,gthread:3:2,sync:4:1"
SWEEP_FLOWS = ("http_ceiling", "discovery", "client_credentials", "refresh_token", "records_read")
DATABASES = {"identity": "carekey_bench_identity", "records": "carekey_bench_records",
             "notifications": "carekey_bench_notifications", "registration": "carekey_bench_registration"}
# Kept between runs (not dropped at the end, even without --keep): registration's database holds the
# 1,000,000-patient roster of the match flow, minutes to load, reused while it checks out
# (bench/match_flow.py); --fresh-roster reloads it, --drop-roster drops it at the end like the others.
KEPT_DATABASES = ("registration",)


def parse_args(argv=None) -> tuple[argparse.Namespace, Options]:
    defaults = Options()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help=f"comma-separated flows: {', '.join(f.name for f in FLOWS)}")
    parser.add_argument("--seconds", type=float, default=defaults.seconds, help="per flow (default %(default)s)")
    parser.add_argument("--signin-seconds", type=float, default=defaults.signin_seconds)
    parser.add_argument("--warmup-seconds", type=float, default=defaults.warmup_seconds)
    parser.add_argument("--limit-seconds", type=float, default=defaults.limit_seconds)
    parser.add_argument("--workers", type=int, help="gunicorn workers per service (default: deploy/gunicorn.conf.py's)")
    parser.add_argument("--threads", type=int, help="threads per gthread worker (default: deploy's)")
    parser.add_argument("--worker-class", help="gthread, sync, … (default: deploy's)")
    parser.add_argument("--signin-connections", type=int, default=defaults.signin_connections)
    parser.add_argument("--refresh-connections", type=int, default=defaults.refresh_connections)
    parser.add_argument("--messages", type=int, default=defaults.messages)
    parser.add_argument("--notification-workers", type=int, default=defaults.notification_workers)
    parser.add_argument("--match-connections", type=int, default=defaults.match_connections,
                        help="concurrent $match requests, one wrk thread each (default %(default)s)")
    parser.add_argument("--match-patients", type=int, default=defaults.match_patients,
                        help="roster size for the match flow (default %(default)s; smaller only to try it)")
    parser.add_argument("--fresh-roster", action="store_true",
                        help="load the match roster again even when a matching one is kept from an earlier run")
    parser.add_argument("--drop-roster", action="store_true",
                        help="drop the match roster database at the end too (the next run loads it again)")
    parser.add_argument("--base-port", type=int, default=int(os.environ.get("BENCH_BASE_PORT", defaults.base_port)))
    parser.add_argument("--profile", action="store_true", help="py-spy the servers (bench/results/profiles/)")
    parser.add_argument("--keep", action="store_true", help="keep the bench databases afterwards")
    parser.add_argument("--sweep", nargs="?", const=DEFAULT_SWEEP, metavar="CLASS:WORKERS:THREADS,...",
                        help="run the flows once per gunicorn configuration and compare them "
                             f"(default {DEFAULT_SWEEP}; without --only: flows {','.join(SWEEP_FLOWS)})")
    parser.add_argument("--label", default=os.environ.get("BENCH_LABEL", ""),
                        help="machine conditions, stored with the results (e.g. 'quiet')")
    args = parser.parse_args(argv)
    options = Options(seconds=args.seconds, warmup_seconds=args.warmup_seconds, signin_seconds=args.signin_seconds,
                      limit_seconds=args.limit_seconds, workers=args.workers, threads=args.threads,
                      worker_class=args.worker_class, signin_connections=args.signin_connections,
                      refresh_connections=args.refresh_connections, messages=args.messages,
                      notification_workers=args.notification_workers, base_port=args.base_port,
                      profile=args.profile, match_connections=args.match_connections,
                      match_patients=args.match_patients, fresh_roster=args.fresh_roster)
    return args, options


def environments(options: Options, admin_url: str, amqp_url: str, services: set[str]) -> dict[str, dict]:
    base = {**os.environ, "CAREKEY_ENV": "test", "LOG_LEVEL": "WARNING", "AMQP_URL": amqp_url}
    base.pop("PROMETHEUS_MULTIPROC_DIR", None)
    base.pop("DATABASE_POOL", None)  # the services' own connection pools, as deployed by default
    identity_url = f"http://127.0.0.1:{options.base_port + Context.PORTS['identity']}"
    records_url = f"http://127.0.0.1:{options.base_port + Context.PORTS['records']}"
    registration_url = f"http://127.0.0.1:{options.base_port + Context.PORTS['registration']}"
    urls = {name: (roster_database(admin_url, DATABASES[name], options) if name in KEPT_DATABASES
                   else fresh_database(admin_url, DATABASES[name])) for name in DATABASES if name in services}
    env = {
        "identity": {**base, "IDENTITY_DATABASE_URL": urls.get("identity", ""), "IDENTITY_PUBLIC_URL": identity_url,
                     "IDENTITY_RECORDS_AUDIENCE": records_url, "IDENTITY_REGISTRATION_AUDIENCE": registration_url,
                     "IDENTITY_IP_FAILURES_PER_WINDOW": "100000000"},
        "records": {**base, "RECORDS_DATABASE_URL": urls.get("records", ""), "RECORDS_PUBLIC_URL": records_url,
                    "RECORDS_IDENTITY_ISSUER": identity_url, "RECORDS_AUDIENCE": records_url},
        "notifications": {**base, "NOTIFICATIONS_DATABASE_URL": urls.get("notifications", ""),
                          "NOTIFICATIONS_EMAIL_BACKEND": "console", "NOTIFICATIONS_SMS_BACKEND": "console",
                          "NOTIFICATIONS_MAX_PER_RECIPIENT_HOUR": "1000000",
                          "NOTIFICATIONS_MAX_PER_RECIPIENT_DAY": "1000000"},  # prefetch and batch: the defaults
        "registration": {**base, "REGISTRATION_DATABASE_URL": urls.get("registration", ""),
                         "REGISTRATION_PUBLIC_URL": registration_url, "REGISTRATION_AUDIENCE": registration_url,
                         "REGISTRATION_IDENTITY_ISSUER": identity_url},
    }
    return env


def migrate(env: dict[str, dict], services: set[str]) -> None:
    from services import registry
    from shared.migrations import upgrade
    for name in DATABASES:
        if name in services:
            upgrade(registry.migrations(name, registry.settings(name, env[name])))


def neighbours_busy(seconds: float = 2.0) -> float:
    """How busy the machine is before we start (other people's work), in cores."""
    busy0, total0 = machine_cpu()
    time.sleep(seconds)
    busy1, total1 = machine_cpu()
    cores = os.cpu_count() or 1
    return cores * (busy1 - busy0) / max(total1 - total0, 1e-9)


def fmt(value, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def table(rows: list[Row]) -> str:
    head = ["flow", "per s", "target", "met", "p50 ms", "p99 ms", "CPU ms/op (app)", "(PG)", "(machine)",
            "limit measured in the same run"]
    lines = []
    for r in rows:
        target = r.target_text or (f"≥ {r.target:,.0f}" if r.target else "")
        met = "" if r.met is None else ("yes" if r.met else "NO")
        limit = f"{r.limit_value:,.0f} {r.limit_name}" if r.limit_value else (r.limit_name or "")
        rate = "not yet" if r.per_second is None else fmt(r.per_second)
        lines.append([r.flow, f"{rate} {r.unit.split('/')[0]}" if r.unit != "req/s" and r.per_second is not None else rate,
                      target, met, fmt(r.p50_ms, 1), fmt(r.p99_ms, 1), fmt(r.cpu_ms, 2), fmt(r.postgres_cpu_ms, 2),
                      fmt(r.machine_cpu_ms, 2), limit])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines)]
    out = [" | ".join(h.ljust(w) for h, w in zip(head, widths)), "-+-".join("-" * w for w in widths)]
    out += [" | ".join(str(x).ljust(w) for x, w in zip(line, widths)) for line in lines]
    return "\n".join(out)


def markdown(rows: list[Row]) -> str:
    out = ["| flow | per second | target | met | p50 / p99 ms | CPU ms per op (app / PG) | limit in the same run |",
           "|---|---|---|---|---|---|---|"]
    for r in rows:
        target = r.target_text or (f"≥ {r.target:,.0f}" if r.target else "")
        met = "" if r.met is None else ("yes" if r.met else "**no**")
        limit = f"{r.limit_value:,.0f} {r.limit_name}" if r.limit_value else (r.limit_name or "")
        rate = "not yet" if r.per_second is None else f"{fmt(r.per_second)} {'' if r.unit == 'req/s' else r.unit}"
        out.append(f"| {r.flow} | {rate} | {target} | {met} | "
                   f"{fmt(r.p50_ms, 1)} / {fmt(r.p99_ms, 1)} | {fmt(r.cpu_ms, 2)} / {fmt(r.postgres_cpu_ms, 2)} | "
                   f"{limit} |")
    return "\n".join(out)


def sweep(args, argv: list[str]) -> int:
    """One run per gunicorn configuration (each its own process, databases and servers), then one
    table: the evidence behind deploy/gunicorn.conf.py's defaults."""
    rows = []
    passthrough, skip = [], False
    for arg in argv:  # everything but --sweep and its value
        if skip:
            skip = False
            if not arg.startswith("--"):
                continue
        if arg == "--sweep":
            skip = True
            continue
        if not arg.startswith("--sweep="):
            passthrough.append(arg)
    if "--only" not in " ".join(passthrough):
        passthrough += ["--only", ",".join(SWEEP_FLOWS)]
    for config in args.sweep.split(","):
        worker_class, workers, threads = config.split(":")
        print(f"bench: sweep {worker_class} × {workers} workers × {threads} threads", flush=True)
        code = subprocess.call([sys.executable, "-m", "bench.run", *passthrough, "--worker-class", worker_class,
                                "--workers", workers, "--threads", threads], cwd=ROOT)
        if code not in (0, 1):
            return code
        result = json.loads((RESULTS / "latest.json").read_text())
        for flow in result["flows"]:
            rows.append((config, flow["flow"], flow["per_second"], flow["p99_ms"], flow["cpu_ms"],
                         result["machine"]["neighbours_busy_cores_before"]))
    print("\nconfiguration        | flow | per s | p99 ms | CPU ms/op (app) | neighbours busy (cores)")
    for config, flow, rate, p99, cpu, busy in sorted(rows, key=lambda r: (r[1], r[0])):
        print(f"{config:<20} | {flow} | {fmt(rate)} | {fmt(p99, 1)} | {fmt(cpu, 2)} | {busy}")
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args, options = parse_args(argv)
    if args.sweep:
        return sweep(args, argv)
    admin = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL")
    amqp = os.environ.get("BENCH_AMQP_URL") or os.environ.get("AMQP_URL")
    if not (admin and admin.startswith("postgres") and amqp and amqp.startswith("amqp")):
        print("bench: set BENCH_DATABASE_URL (PostgreSQL) and BENCH_AMQP_URL (RabbitMQ)", file=sys.stderr)
        return 2
    selected = [f for f in FLOWS if not args.only or f.name in args.only.split(",")]
    if not selected:
        print(f"bench: no such flow in {args.only!r}", file=sys.stderr)
        return 2
    ensure_wrk()
    started_at = datetime.now(timezone.utc)
    work_dir = Path(tempfile.mkdtemp(prefix="carekey-bench-"))
    processes = Processes(work_dir / "logs")
    install_cleanup(processes)
    services = {s for f in selected for s in f.services}
    machine = {"cores": os.cpu_count(), "python": platform.python_version(), "host": platform.node(),
               "load_before": os.getloadavg(), "neighbours_busy_cores_before": round(neighbours_busy(), 2),
               "label": args.label}
    gunicorn = gunicorn_settings(options.workers, options.threads, options.worker_class)
    print(f"bench: {len(selected)} flows; machine busy with others: {machine['neighbours_busy_cores_before']} "
          f"of {machine['cores']} cores; gunicorn {gunicorn['worker_class']} × {gunicorn['workers']} workers × "
          f"{gunicorn['threads']} threads; logs in {work_dir}", flush=True)
    rows: list[Row] = []
    failures: list[str] = []
    ctx = None
    try:
        env = environments(options, admin, amqp, services)
        migrate(env, services)
        seed = None
        if "identity" in services:
            from bench.seed import seed_identity
            seed = seed_identity(env["identity"], signin_users=options.signin_connections)
        if "records" in services:
            from bench.seed import seed_records
            seed_records(env["records"])
        ctx = Context(options, processes, env, seed, amqp, work_dir, admin, list(DATABASES.values()))
        for flow in selected:
            print(f"bench: {flow.name} …", flush=True)
            try:
                result = flow.run(ctx)
                rows += result if isinstance(result, list) else [result]
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # one broken flow must not hide the others
                traceback.print_exc()
                failures.append(f"{flow.name}: {type(exc).__name__}: {exc}")
                rows.append(Row(flow=flow.name, per_second=0.0, met=False, notes=[f"FAILED: {exc}"]))
    except KeyboardInterrupt:
        print("\nbench: interrupted; stopping everything", file=sys.stderr)
        processes.stop_all()
        return 130
    finally:
        processes.stop_all()
        if not args.keep:
            for name in DATABASES:
                if name in services and (name not in KEPT_DATABASES or args.drop_roster):
                    try:
                        drop_database(admin, DATABASES[name])
                    except Exception:  # the database may be in use by a neighbour's inspection
                        pass
    rows += getattr(ctx, "extra_rows", []) if ctx else []
    machine["load_after"] = os.getloadavg()
    result = {"at": started_at.isoformat(), "machine": machine,
              "gunicorn": gunicorn,
              "options": options.__dict__, "limits": {k: {"name": n, "per_second": round(v, 1)}
                                                     for k, (n, v) in (ctx.limits.items() if ctx else [])},
              "flows": [r.as_dict() for r in rows], "failures": failures, "markdown": markdown(rows)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{started_at:%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    (RESULTS / "latest.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print()
    print(table(rows))
    for r in rows:
        for note in r.notes:
            print(f"  {r.flow}: {note}")
    print(f"gunicorn: {gunicorn['worker_class']} × {gunicorn['workers']} workers × {gunicorn['threads']} threads "
          f"(deploy/gunicorn.conf.py{' with overrides' if options.workers or options.threads or options.worker_class else ''})")
    print(f"machine: {machine['cores']} cores, busy with others before: {machine['neighbours_busy_cores_before']} "
          f"cores, load {machine['load_before'][0]:.2f} → {machine['load_after'][0]:.2f}"
          f"{' (' + args.label + ')' if args.label else ''}")
    print(f"results: {path.relative_to(ROOT)} (and bench/results/latest.json)")
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    if failures:
        print(f"logs kept in {work_dir}", file=sys.stderr)
    else:
        shutil.rmtree(work_dir, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
