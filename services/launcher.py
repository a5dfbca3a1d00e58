"""`carekey run`: the whole suite as local processes on SQLite files under var/ (the embedded default).

Migrates, declares the broker's queues, seeds the demo data, starts every service, the outbox
relay and the notifications worker, waits until each answers /readyz, prints the URLs, and on
Ctrl-C (or SIGTERM) stops everything. Running it again reuses the same files.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Mapping, MutableMapping

from services import SERVICES, registry
from services.demo import portals as demo_portals
from shared.settings import PLACEHOLDERS_ANNOUNCED, load_common

READY_TIMEOUT = 60.0


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "services.cli", *args]


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _prepare(env: dict[str, str]) -> None:
    """Migrate, declare the queues and seed, each in its own short-lived process."""
    for args in (("db", "upgrade"), ("broker", "setup"), ("demo", "seed")):
        subprocess.run(_command(*args), env=env, check=True)


# Where this run's services listen, for `carekey` commands typed in another terminal (an invitation made
# with `carekey registration invite` must link to the registration that is running, wherever it listens).
LAYOUT_FILE = Path("var") / "suite.env"


def _layout_keys() -> list[str]:
    keys = [f"{service.upper()}_{part}" for service in SERVICES for part in ("HOST", "PORT", "PUBLIC_URL")]
    keys += [f"PORTAL_{name.upper()}_PORT" for name in demo_portals.ports({})]
    keys += [f"{a}_{b}" for a, b in (("REGISTRATION", "IDENTITY_ISSUER"), ("RECORDS", "IDENTITY_ISSUER"),
                                     ("REGISTRATION", "AUDIENCE"), ("RECORDS", "AUDIENCE"),
                                     ("IDENTITY", "REGISTRATION_AUDIENCE"), ("IDENTITY", "RECORDS_AUDIENCE"))]
    return keys


def remember_layout(env: Mapping[str, str]) -> None:
    """Write the ports and URLs this run was given to var/suite.env (a run with the defaults empties it)."""
    lines = [f"{key}={env[key]}" for key in _layout_keys() if env.get(key)]
    LAYOUT_FILE.write_text("# written by `carekey run`: where its services listen\n" + "".join(f"{line}\n" for line in lines))


def adopt_layout(environ: MutableMapping[str, str]) -> None:
    """In dev, fill in the ports and URLs of the last `carekey run` in this directory that *environ*
    does not set itself, so `carekey` commands reach (and link to) the services where they listen."""
    if environ.get("CAREKEY_ENV", "dev") != "dev" or not LAYOUT_FILE.is_file():
        return
    allowed = set(_layout_keys())
    for line in LAYOUT_FILE.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and key in allowed and not environ.get(key):
            environ[key] = value


def run_suite() -> int:
    Path("var").mkdir(exist_ok=True)
    env = {**os.environ, "LOG_JSON": os.environ.get("LOG_JSON", "false"), "PYTHONUNBUFFERED": "1"}
    settings = {name: registry.settings(name, env) for name in SERVICES}
    env[PLACEHOLDERS_ANNOUNCED] = "1"  # the warnings above were shown once; the children stay quiet
    load_common(env)
    busy = [s for s in settings.values() if not _port_free(s.host, s.port)]
    if busy:
        for s in busy:
            print(f"Port already in use: {s.service} ({s.host}:{s.port}). Stop what is using it, "
                  f"or choose another port: {s.service.upper()}_PORT={s.port + 1000} make run", file=sys.stderr)
        return 1
    busy_portals = {name: port for name, port in demo_portals.ports(env).items() if not _port_free("127.0.0.1", port)}
    for name, port in busy_portals.items():
        print(f"Port already in use: the {name} portal (127.0.0.1:{port}). Stop what is using it, "
              f"or choose another port: PORTAL_{name.upper()}_PORT={port + 1000} make run", file=sys.stderr)
    if busy_portals:
        return 1
    remember_layout(env)
    _prepare(env)
    commands = {name: _command("serve", name) for name in SERVICES}
    commands["outbox relay"] = _command("relay")
    commands["notifications worker"] = _command("notifications", "worker")
    children = {name: subprocess.Popen(cmd, env=env, start_new_session=True) for name, cmd in commands.items()}
    stopping = False

    def stop(_signum=None, _frame=None):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        if not _wait_ready(settings, children, lambda: stopping):
            return 1
        portals = demo_portals.processes(env, settings)
        for portal in portals:  # after the services are ready: a portal reads identity's metadata
            children[f"{portal.portal.practice_id} portal"] = subprocess.Popen(portal.command, env=portal.env,
                                                                               start_new_session=True)
        if not _wait_ready({f"{p.portal.practice_id} portal": p for p in portals}, children, lambda: stopping):
            return 1
        _print_urls(settings, demo_portals.guide(settings, portals))
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None:
                    print(f"{name} exited with status {child.returncode}; stopping the suite.", file=sys.stderr)
                    return 1
            time.sleep(0.5)
        return 0
    finally:
        _stop_children(children)


def _wait_ready(settings, children, stopping) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT
    waiting = dict(settings)
    while waiting and time.monotonic() < deadline and not stopping():
        for name, service_settings in list(waiting.items()):
            if children[name].poll() is not None:
                print(f"{name} failed to start (exit status {children[name].returncode}).", file=sys.stderr)
                return False
            if _ready(f"http://{service_settings.host}:{service_settings.port}"):
                del waiting[name]
        time.sleep(0.3)
    if waiting and not stopping():
        print(f"Not ready after {READY_TIMEOUT:.0f}s: {', '.join(waiting)}", file=sys.stderr)
        return False
    return not stopping()


def _print_urls(settings, guide: str = "") -> None:
    width = max(len(name) for name in settings)
    print("\nCareKey is running (embedded: SQLite files and the message queue under var/).\n")
    for name, s in settings.items():
        print(f"  {name:<{width}}  {s.public_url}   health: {s.public_url}/readyz")
    outbox = settings["notifications"].public_url
    print(f"\n  Emails, texts and voice calls the suite sends: {outbox}/outbox")
    if guide:
        print(guide)
    print("\nPress Ctrl-C to stop.\n", flush=True)


def _stop_children(children: dict[str, subprocess.Popen]) -> None:
    for child in children.values():
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    print("CareKey stopped.", file=sys.stderr)
