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
    source = "".join(path.read_text() for path in sorted((ROOT / "bench").glob("*.py")))
    scripts = set(re.findall(r'"([a-z_]+\.lua)"', source))
    assert scripts, "the flows name their wrk scripts"
    assert "match.lua" in scripts, "registration's $match is a flow of make bench"
    for script in scripts:
        text = (WRK_DIR / script).read_text()
        assert 'require("common")' in text and "done = common.done" in text, script
    assert "BENCH_JSON" in (WRK_DIR / "common.lua").read_text()


def test_the_table_says_not_yet_for_a_flow_without_figures():
    row = run.Row(flow="a flow still to come", per_second=None, target_text="p95 ≤ 20 ms")
    assert "not yet" in run.table([row]) and "not yet" in run.markdown([row])


def test_match_runs_registration_and_keeps_only_its_roster_database():
    match = next(flow for flow in flows.FLOWS if flow.name == "match")
    assert set(match.services) == {"identity", "registration"}
    assert "registration" in run.DATABASES and set(run.KEPT_DATABASES) <= set(run.DATABASES)
    args, options = run.parse_args(["--only", "match", "--match-connections", "4", "--fresh-roster"])
    assert options.match_connections == 4 and options.fresh_roster and not args.drop_roster
