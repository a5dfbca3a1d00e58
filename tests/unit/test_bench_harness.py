"""The benchmark harness (bench/) imports, parses its options and finds its Lua scripts. Nothing is
timed here: speed is measured by `make bench`, never asserted in tests."""
from __future__ import annotations

import re
from pathlib import Path

from bench import flows, run
from bench.loadgen import WRK_DIR

ROOT = Path(__file__).resolve().parents[2]


def test_every_flow_is_selectable_and_options_parse():
    names = [flow.name for flow in flows.FLOWS]
    assert len(names) == len(set(names))
    assert {"discovery", "client_credentials", "refresh_token", "password_sign_in", "records_read",
            "notifications", "match"} <= set(names)
    args, options = run.parse_args(["--only", ",".join(names), "--seconds", "3", "--workers", "3"])
    assert args.only.split(",") == names and options.seconds == 3 and options.workers == 3
    assert 8001 > options.base_port + max(run.Context.PORTS.values()) or options.base_port > 8102


def test_every_lua_script_a_flow_names_exists_and_loads_the_shared_module():
    source = (ROOT / "bench" / "flows.py").read_text() + (ROOT / "bench" / "context.py").read_text()
    scripts = set(re.findall(r'"([a-z_]+\.lua)"', source))
    assert scripts, "the flows name their wrk scripts"
    for script in scripts:
        text = (WRK_DIR / script).read_text()
        assert 'require("common")' in text and "done = common.done" in text, script
    assert "BENCH_JSON" in (WRK_DIR / "common.lua").read_text()


def test_the_table_says_not_yet_for_a_flow_without_figures():
    row = flows.match(None)
    assert "not yet" in run.table([row]) and "not yet" in run.markdown([row])
