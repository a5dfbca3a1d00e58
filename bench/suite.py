"""Processes the benchmark starts, and everything they need: fresh databases, gunicorn servers,
workers, CPU accounting from /proc, and a clean stop of all of it, even on Ctrl-C or a failure.

Every process is started in its own session (process group). :class:`Processes` remembers each
one; :meth:`Processes.stop_all` sends SIGTERM to every group, waits, then SIGKILLs what is left.
``bench/run.py`` calls it from ``finally``, from ``atexit`` and on SIGINT/SIGTERM/SIGHUP, so no
server is left listening.
"""
from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- databases ----------------------------------------------------------------------------------
def fresh_database(admin_url: str, name: str) -> str:
    """Drop and create ``name`` on the server of ``admin_url``; its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from shared.database import normalise_url
    url = make_url(normalise_url(admin_url))
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from shared.database import normalise_url
    engine = create_engine(make_url(normalise_url(admin_url)), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


# -- ports --------------------------------------------------------------------------------------
def port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn does: TIME_WAIT is no owner
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


# -- CPU from /proc -----------------------------------------------------------------------------
def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _children(pid: int) -> list[int]:
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found += [int(c) for c in handle.read().split()]
    except OSError:
        pass
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) of a process, its reaped children and its live descendants.

    Reaped children (a gunicorn worker recycled after ``max_requests``) are in the parent's
    cutime/cstime, so nothing that ran during a measurement is lost."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    # after ")": state=0 ... utime=11 stime=12 cutime=13 cstime=14
    total = sum(int(v) for v in fields[11:15]) / CLK_TCK
    for child in _children(pid):
        total += tree_cpu_seconds(child)
    return total


def connections_per_worker(port: int) -> dict[int, int]:
    """Established connections to ``port`` by the pid that holds them (``ss -tnp``): a keep-alive
    connection stays with the worker that accepted it, so a skewed share leaves a core idle."""
    import re
    import subprocess
    try:
        out = subprocess.run(["ss", "-tnpH", "state", "established", f"( sport = :{port} )"], capture_output=True,
                             text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    counts: dict[int, int] = {}
    for pid in re.findall(r"pid=(\d+)", out):
        counts[int(pid)] = counts.get(int(pid), 0) + 1
    return counts


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine, from /proc/stat."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values[:8])
    return (total - idle) / CLK_TCK, total / CLK_TCK


def postgres_backends(admin_url: str, databases: list[str]) -> list[int]:
    """The PostgreSQL backends serving our bench databases (not our neighbours' tests)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    from shared.database import normalise_url
    engine = create_engine(normalise_url(admin_url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return [row[0] for row in conn.execute(
                text("SELECT pid FROM pg_stat_activity WHERE datname = ANY(:names)"), {"names": databases})]
    finally:
        engine.dispose()


def process_cpu(pids: list[int]) -> dict[int, float]:
    found = {}
    for pid in pids:
        fields = _stat(pid)
        if fields:
            found[pid] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return found


# -- processes ----------------------------------------------------------------------------------
@dataclass
class Started:
    name: str
    popen: subprocess.Popen
    port: int | None = None
    log: Path | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def cpu(self) -> float:
        return tree_cpu_seconds(self.pid)


@dataclass
class Processes:
    """Every process the benchmark started; all stopped by :meth:`stop_all`."""

    log_dir: Path
    started: list[Started] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: dict, *, port: int | None = None) -> Started:
        if port is not None and not port_free(port):
            raise RuntimeError(f"port {port} is taken; set BENCH_BASE_PORT to another range")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{name}.log"
        handle = open(log, "ab")
        popen = subprocess.Popen(argv, env=env, cwd=ROOT, start_new_session=True, stdin=subprocess.DEVNULL,
                                 stdout=handle, stderr=subprocess.STDOUT)
        handle.close()
        entry = Started(name, popen, port, log)
        self.started.append(entry)
        return entry

    def gunicorn(self, name: str, app: str, env: dict, port: int, *, workers: int | None, threads: int | None,
                 worker_class: str | None) -> Started:
        """Under deploy/gunicorn.conf.py; workers, threads and class override its defaults when given."""
        env = {**env, "PORT": str(port)}
        for variable, value in (("WEB_CONCURRENCY", workers), ("GUNICORN_THREADS", threads),
                                ("GUNICORN_WORKER_CLASS", worker_class)):
            if value is not None:
                env[variable] = str(value)
            else:
                env.pop(variable, None)
        return self.start(name, [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF),
                                 "--bind", f"127.0.0.1:{port}", app], env, port=port)

    def stop(self, entry: Started, timeout: float = 15) -> None:
        _signal_group(entry.popen, signal.SIGTERM)
        try:
            entry.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _signal_group(entry.popen, signal.SIGKILL)
            entry.popen.wait(timeout=10)
        _signal_group(entry.popen, signal.SIGKILL)  # any grandchild that outlived its parent
        if entry in self.started:
            self.started.remove(entry)

    def stop_all(self) -> None:
        entries, self.started = list(self.started), []
        for entry in entries:
            _signal_group(entry.popen, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for entry in entries:
            try:
                entry.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for entry in entries:
            _signal_group(entry.popen, signal.SIGKILL)
            try:
                entry.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


def gunicorn_settings(workers: int | None, threads: int | None, worker_class: str | None) -> dict:
    """What deploy/gunicorn.conf.py resolves to with these overrides (for the record)."""
    import runpy
    saved = {k: os.environ.get(k) for k in ("WEB_CONCURRENCY", "GUNICORN_THREADS", "GUNICORN_WORKER_CLASS")}
    try:
        for variable, value in (("WEB_CONCURRENCY", workers), ("GUNICORN_THREADS", threads),
                                ("GUNICORN_WORKER_CLASS", worker_class)):
            if value is not None:
                os.environ[variable] = str(value)
        conf = runpy.run_path(str(GUNICORN_CONF))
        return {"worker_class": conf["worker_class"], "workers": conf["workers"], "threads": conf["threads"],
                "max_requests": conf.get("max_requests"), "keepalive": conf.get("keepalive")}
    finally:
        for variable, value in saved.items():
            if value is None:
                os.environ.pop(variable, None)
            else:
                os.environ[variable] = value


def _signal_group(popen: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(popen.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def install_cleanup(processes: Processes) -> None:
    """Stop everything on exit and on SIGINT/SIGTERM/SIGHUP (turned into KeyboardInterrupt so
    every ``finally`` runs)."""
    atexit.register(processes.stop_all)

    def interrupted(signum, _frame):
        signal.signal(signum, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        raise KeyboardInterrupt(f"signal {signum}")

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupted)


def wait_http(url: str, timeout: float = 60, process: Started | None = None) -> None:
    import requests
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.popen.poll() is not None:
            raise RuntimeError(f"{process.name} exited ({process.popen.returncode}); see {process.log}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f} s")
