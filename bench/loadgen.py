"""The load generator: wrk (Debian's package), in its own process, with the Lua scripts in
bench/wrk/. Installs wrk with apt-get when it is missing (as root), else says how."""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from bench.suite import Processes

WRK_DIR = Path(__file__).resolve().parent / "wrk"


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("bench: installing wrk (apt-get install -y wrk)", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False, stdout=subprocess.DEVNULL)
        if not shutil.which("wrk"):
            subprocess.run(["apt-get", "update", "-qq"], check=False, stdout=subprocess.DEVNULL)
            subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, stdout=subprocess.DEVNULL)
        found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is missing: sudo apt-get install -y wrk")
    return found


@dataclass
class WrkResult:
    requests: int
    seconds: float
    errors: dict
    latency_ms: dict          # per request: p50, p90, p95, p99, max, mean
    flows_ok: int
    flows_failed: int
    flow_ms: dict             # per flow (multi-request scripts): count, p50, p95, p99
    statuses: dict
    raw: str
    counters: dict = field(default_factory=dict)  # what the script counted itself (name -> count)

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def failed_requests(self) -> int:
        return sum(self.errors.values())


def run_wrk(processes: Processes, name: str, url: str, script: str, *, seconds: float, connections: int,
            threads: int, env: dict | None = None, timeout_s: int = 10) -> WrkResult:
    # wrk takes whole seconds only ("0.5s" is refused): a shorter run is one second
    argv = [ensure_wrk(), "-t", str(threads), "-c", str(connections), "-d", f"{max(1, math.ceil(seconds))}s",
            "--timeout", f"{timeout_s}s", "-s", str(WRK_DIR / script), url]
    full_env = {**os.environ, "BENCH_WRK_DIR": str(WRK_DIR), "BENCH_THREADS": str(threads), **(env or {})}
    started = processes.start(f"wrk-{name}", argv, full_env)
    try:
        started.popen.wait(timeout=seconds + timeout_s + 60)
    finally:
        processes.stop(started)
    text = started.log.read_text(errors="replace")
    started.log.unlink(missing_ok=True)
    line = next((l for l in text.splitlines() if l.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk ({name}) printed no result:\n{text[-2000:]}")
    data = json.loads(line[len("BENCH_JSON "):])
    ms = {k: round(v / 1000, 2) for k, v in data["latency_us"].items()}
    flow = {k: (v if k == "count" else round(v / 1000, 1)) for k, v in data["flow_us"].items()}
    return WrkResult(requests=data["requests"], seconds=data["duration_us"] / 1e6, errors=data["errors"],
                     latency_ms=ms, flows_ok=data["flows_ok"], flows_failed=data["flows_failed"], flow_ms=flow,
                     statuses=data["statuses"], raw=text, counters=data.get("counters", {}))
