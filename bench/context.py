"""What a flow gets: the started suite (servers started on first use), its seed, the options, and
helpers that run wrk and account CPU. A flow returns :class:`Row` (or a list of them)."""
from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from bench import limits as limit_probes
from bench.loadgen import run_wrk
from bench.suite import (Processes, Started, connections_per_worker, machine_cpu, postgres_backends, process_cpu,
                         wait_http)


@dataclass
class Options:
    seconds: float = 10.0
    warmup_seconds: float = 2.0
    signin_seconds: float = 15.0
    limit_seconds: float = 4.0
    workers: int | None = None       # None: deploy/gunicorn.conf.py's default
    threads: int | None = None
    worker_class: str | None = None
    signin_connections: int = 8
    refresh_connections: int = 16
    messages: int = 10000
    notification_workers: int = 2
    notification_timeout: float = 120.0
    base_port: int = 9000
    match_connections: int = 8       # a registration burst: as many $match requests as the server has threads
    match_patients: int = 1_000_000
    fresh_roster: bool = False       # reload the match roster even when a kept one checks out
    profile: bool = False  # py-spy records the servers during each measured run (bench/results/profiles/)


@dataclass
class Row:
    flow: str
    per_second: float | None  # None: not measured (yet)
    unit: str = "req/s"
    p50_ms: float | None = None
    p99_ms: float | None = None
    requests: int = 0
    failed: int = 0
    seconds: float = 0.0
    target: float | None = None
    target_text: str | None = None
    met: bool | None = None
    cpu_ms: float | None = None          # the service's processes (gunicorn master + workers), per op
    postgres_cpu_ms: float | None = None  # every PostgreSQL process, per op
    machine_cpu_ms: float | None = None   # the whole machine (load generator and neighbours included), per op
    limit_name: str | None = None
    limit_value: float | None = None
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


@dataclass
class Server:
    name: str
    process: Started
    url: str


class Context:
    def __init__(self, options: Options, processes: Processes, env: dict[str, dict], seed, amqp_url: str,
                 work_dir: Path, admin_url: str = "", databases: list[str] | None = None) -> None:
        self.options, self.processes, self.env, self.seed = options, processes, env, seed
        self.admin_url, self.databases = admin_url, databases or []
        self.amqp_url, self.work_dir = amqp_url, work_dir
        self.servers: dict[str, Server] = {}
        self.limits: dict[str, tuple[str, float]] = {}

    # -- servers ---------------------------------------------------------------------------------
    PORTS = {"identity": 1, "registration": 2, "notifications": 3, "records": 4, "hello-token": 7, "hello-raw": 8,
             "hello-flask": 9}

    def port(self, name: str) -> int:
        return self.options.base_port + self.PORTS[name]

    def server(self, name: str, app: str, env: dict, ready_path: str = "/readyz") -> Server:
        if name not in self.servers:
            port = self.port(name)
            o = self.options
            process = self.processes.gunicorn(name, app, env, port, workers=o.workers, threads=o.threads,
                                              worker_class=o.worker_class)
            url = f"http://127.0.0.1:{port}"
            wait_http(url + ready_path, timeout=90, process=process)
            self.servers[name] = Server(name, process, url)
        return self.servers[name]

    def identity(self) -> Server:
        return self.server("identity", "services.identity.wsgi:app", self.env["identity"])

    def registration(self) -> Server:
        self.identity()  # its JWKS
        return self.server("registration", "services.registration.wsgi:app", self.env["registration"])

    def records(self) -> Server:
        self.identity()  # its JWKS
        return self.server("records", "services.records.wsgi:app", self.env["records"])

    def start_worker(self, name: str, carekey_args: list[str], env: dict) -> Started:
        return self.processes.start(name, [sys.executable, "-m", "services.cli", *carekey_args], env)

    # -- CPU -------------------------------------------------------------------------------------
    def cpu_snapshot(self, processes: list) -> dict:
        try:
            backends = process_cpu(postgres_backends(self.admin_url, self.databases))
        except Exception:  # noqa: BLE001 - the figure is optional
            backends = {}
        return {"app": sum(p.cpu() for p in processes), "postgres": backends,
                "machine": machine_cpu()[0], "at": time.perf_counter()}

    @staticmethod
    def cpu_per_request(row: Row, before: dict, after: dict) -> None:
        done = max(row.requests, 1)
        row.cpu_ms = (after["app"] - before["app"]) * 1000 / done
        # backends that served our databases; one that connected during the run started at 0
        postgres = sum(cpu - before["postgres"].get(pid, 0.0) for pid, cpu in after["postgres"].items())
        row.postgres_cpu_ms = postgres * 1000 / done
        row.machine_cpu_ms = (after["machine"] - before["machine"]) * 1000 / done

    # -- load ------------------------------------------------------------------------------------
    # A keep-alive connection stays with the worker process that accepted it. wrk opens all its
    # connections at once on the same two cores, and now and then one worker wins every accept():
    # then one core serves everything while the other idles, and the figure halves. Such a run says
    # nothing about the code, so it is measured again (at most four times more), and the notes say so.
    SKEW_ATTEMPTS = 5

    def measure(self, flow: str, servers: list[Server], url: str, script: str, *, env: dict | None = None,
                target: float | None = None, connections: int = 16, threads: int = 1, per: str = "request",
                warmup: bool = True, seconds: float | None = None, expect_status: int | None = None,
                env_for_attempt: Callable[[int], dict] | None = None) -> Row:
        """``env_for_attempt(n)`` gives a repeated attempt its own environment (a flow whose inputs are
        used up by a run, such as refresh tokens)."""
        o = self.options
        seconds = seconds or o.seconds
        if warmup and o.warmup_seconds > 0:
            run_wrk(self.processes, flow.split()[0] + "-warmup", url, script, seconds=o.warmup_seconds,
                    connections=connections, threads=threads, env=env)
        processes = [s.process for s in servers]
        ports = [int(s.url.rsplit(":", 1)[1]) for s in servers]
        skewed: list[str] = []
        for attempt in range(self.SKEW_ATTEMPTS):
            if attempt and env_for_attempt is not None:
                env = env_for_attempt(attempt)
            profilers = [self._profile(flow, p, seconds) for p in processes] if o.profile else []
            before = self.cpu_snapshot(processes)
            spread: dict[int, int] = {}  # sampled early in the run: which worker holds each connection
            sampler = threading.Timer(min(1.0, seconds / 2), lambda: spread.update(
                {pid: n for port in ports for pid, n in connections_per_worker(port).items()}))
            sampler.start()
            result = run_wrk(self.processes, flow.split()[0], url, script, seconds=seconds, connections=connections,
                             threads=threads, env=env)
            sampler.cancel()
            after = self.cpu_snapshot(processes)
            for profiler in profilers:
                profiler.popen.wait(timeout=60)
                self.processes.stop(profiler)
            shares = sorted(spread.values(), reverse=True)
            one_worker = len(servers) == 1 and connections > 1 and o.workers != 1 and len(shares) == 1
            if not one_worker:
                break
            skewed.append(f"{result.per_second:,.0f}/s")
        if per == "flow":
            done, failed = result.flows_ok, result.flows_failed
            row = Row(flow=flow, per_second=done / result.seconds, unit="flows/s", p50_ms=result.flow_ms["p50"],
                      p99_ms=result.flow_ms["p99"], requests=done, failed=failed, seconds=result.seconds)
        else:
            failed = result.failed_requests
            if expect_status is not None:
                failed += sum(n for s, n in result.statuses.items() if int(s) != expect_status)
            row = Row(flow=flow, per_second=result.per_second, p50_ms=result.latency_ms["p50"],
                      p99_ms=result.latency_ms["p99"], requests=result.requests, failed=failed,
                      seconds=result.seconds)
            if result.flows_ok or result.flows_failed:
                row.failed = result.flows_failed + result.errors.get("connect", 0) + result.errors.get("timeout", 0)
        row.extra.update(connections=connections, wrk_threads=threads, request_latency_ms=result.latency_ms,
                         http_requests=result.requests, http_per_second=round(result.per_second, 1),
                         errors=result.errors, statuses=result.statuses, flows_failed=result.flows_failed,
                         counters=result.counters)
        self.cpu_per_request(row, before, after)
        row.extra["connections_per_worker"] = shares
        if skewed:
            row.extra["runs_with_one_worker"] = skewed
            row.notes.append(f"measured again after {len(skewed)} run(s) in which every connection landed on one "
                             f"worker process ({', '.join(skewed)}); this run: {'/'.join(map(str, shares)) or '?'} "
                             f"connections per worker")
        if target is not None:
            row.target = target
            row.met = row.per_second >= target and row.failed == 0
        return row

    def _profile(self, flow: str, process: Started, seconds: float) -> Started:
        """py-spy (from PyPI: pip install py-spy) over a server and its workers, as collapsed stacks."""
        import re
        import shutil
        out = Path(__file__).resolve().parent / "results" / "profiles"
        out.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^a-z0-9]+", "-", f"{flow} {process.name}".lower()).strip("-")[:60]
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        return self.processes.start(f"py-spy-{name}", [spy, "record", "--subprocesses", "--gil", "--nonblocking", "-r", "200",
                                                       "-d", str(int(seconds)), "-f", "raw", "-o",
                                                       str(out / f"{name}.txt"), "-p", str(process.pid)], os.environ)

    # -- limits ----------------------------------------------------------------------------------
    def measure_limit(self, key: str, name: str, probe: Callable[[], float]) -> float:
        if key not in self.limits:
            print(f"bench: limit {name} …", flush=True)
            self.limits[key] = (name, probe())
        return self.limits[key][1]

    def _probes(self) -> dict[str, tuple[str, Callable[[], float]]]:
        seconds = self.options.limit_seconds
        return {"es256": ("raw ES256 signs/s", lambda: limit_probes.es256_signs(seconds)),
                "argon2id": ("argon2id hashes/s", lambda: limit_probes.argon2id_hashes(seconds)),
                "hello": ("hello gunicorn app req/s", self.hello_rate),
                "minimal_token": ("minimal Flask+Authlib token req/s", self.minimal_token_rate)}

    def measured(self, key: str) -> float:
        """One of the standard limits, measured on first use."""
        return self.measure_limit(key, *self._probes()[key])

    def limit(self, row: Row, key: str) -> None:
        """Put limit *key* beside *row*: measured already by its flow (``measure_limit``), or a standard one."""
        if key not in self.limits:
            self.measured(key)
        row.limit_name, row.limit_value = self.limits[key]

    def _ceiling_alone(self, title: str, name: str, app: str, script: str, env: dict, connections: int) -> Row:
        """A ceiling app under the same gunicorn settings and wrk, stopped after; its row is added to
        the table's ceilings."""
        server = self.server(name, app, {**os.environ, "CAREKEY_ENV": "test"}, ready_path="/")
        row = self.measure(name, [server], server.url, script, env=env, connections=connections)
        self.processes.stop(server.process)
        self.servers.pop(server.name, None)
        self.extra_rows = getattr(self, "extra_rows", []) + [_ceiling(title, row)]
        return row

    def hello_rate(self) -> float:
        """A bare WSGI 'hello' (and a Flask one) under the same gunicorn settings, driven by the same wrk."""
        paths = {"BENCH_PATHS": "/"}
        row = self._ceiling_alone("HTTP ceiling: bare WSGI hello under gunicorn", "hello-raw", "bench.hello:raw",
                                  "get.lua", paths, connections=32)
        flask_row = self._ceiling_alone("HTTP ceiling: Flask hello under gunicorn", "hello-flask",
                                        "bench.hello:flask", "get.lua", paths, connections=32)
        self.limits["hello-flask"] = ("hello Flask app req/s", flask_row.per_second)
        return row.per_second

    def minimal_token_rate(self) -> float:
        """The least a Flask + Authlib client_credentials endpoint does (bench/hello.py), under the
        same gunicorn settings and the same wrk script as identity's."""
        import base64
        from bench.hello import MINIMAL_CLIENT_ID, MINIMAL_CLIENT_SECRET
        basic = base64.b64encode(f"{MINIMAL_CLIENT_ID}:{MINIMAL_CLIENT_SECRET}".encode()).decode()
        return self._ceiling_alone("HTTP ceiling: minimal Flask + Authlib ES256 client_credentials", "hello-token",
                                   "bench.hello:minimal_token", "client_credentials.lua", {"BENCH_BASIC": basic},
                                   connections=16).per_second


def _ceiling(name: str, row: Row) -> Row:
    row.flow = name
    row.notes.append("a limit, not a flow")
    return row
