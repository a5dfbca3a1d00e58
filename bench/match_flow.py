"""The ``match`` flow: registration's FHIR ``$match`` (``POST /Patient/$match?practice=…``) on a
1,000,000-patient roster, under gunicorn with deploy/gunicorn.conf.py, driven by wrk from its own
process (bench/wrk/match.lua) with the tokens of operator clients identity issued.

The roster is bench/match_scale.py's synthetic one (its generator and COPY loader, imported), in
registration's bench database ``carekey_bench_registration``. Loading it takes minutes, so that
database is **kept between runs** (bench/run.py's KEPT_DATABASES: not dropped at the end; --drop-roster
drops it, --fresh-roster reloads it) and reused when it checks out: the marker table ``bench_roster``
written after the load names its size, seed and loader; the practice's entry count agrees; and a few
sampled patients still have exactly the blocking keys today's matching code derives (a change to the
keys loads it again). On reuse, the tables a ``$match`` writes (``throttles``, ``audit_events``) are
emptied first, so every run starts alike.
"""
from __future__ import annotations

import json
import time
from datetime import timezone

import requests

from bench import match_scale
from bench.context import Context, Options, Row
from bench.seed import client_token, seed_match_clients

SEED = 20261201           # match_scale.py's default: the same roster as `make bench-match`
LOADER = "match_scale.load_roster v2"  # v2: with the practice's matching model
MARKER = "bench_roster"
SAMPLES = 5               # patients whose blocking keys are checked on reuse
QUERIES = 5000            # distinct typo'd queries wrk cycles through
LIMIT_QUERIES = 200       # in-process searches for the limit column
# $match is throttled per operator client and practice, at the practice's match_per_minute (600 by
# default): a burst comes from several practices' systems, so the requests take the clients' tokens in turn.
CLIENTS = 32
TARGET_P95_MS = 20.0


# -- the roster database --------------------------------------------------------------------------
def _connect(url: str, **kwargs):
    import psycopg
    from sqlalchemy.engine import make_url

    from shared.database import normalise_url
    return psycopg.connect(match_scale.plain_url(make_url(normalise_url(url))), **kwargs)


def _marker(conn) -> dict | None:
    if conn.execute(f"SELECT to_regclass('{MARKER}')").fetchone()[0] is None:
        return None
    row = conn.execute(f"SELECT patients, seed, loader, load_seconds, loaded_at FROM {MARKER}").fetchone()
    return dict(zip(("patients", "seed", "loader", "load_seconds", "loaded_at"), row)) if row else None


def roster_ready(url: str, patients: int, seed: int = SEED) -> bool:
    """Does the database at ``url`` hold the roster of this size and seed, with today's keys?"""
    try:
        with _connect(url) as conn:
            marker = _marker(conn)
            if not marker or (marker["patients"], marker["seed"], marker["loader"]) != (patients, seed, LOADER):
                return False
            count = conn.execute("SELECT count(*) FROM roster_entries WHERE practice_id = %s",
                                 (match_scale.PRACTICE,)).fetchone()[0]
            if count != patients:
                return False
            for index in range(0, patients, max(1, patients // SAMPLES))[:SAMPLES]:
                row = match_scale.patient_row(index, seed)
                stored = conn.execute("SELECT mrn, family_name, birth_date FROM roster_entries WHERE id = %s",
                                      (row["id"],)).fetchone()
                keys = sorted(k for (k,) in conn.execute(
                    "SELECT key FROM roster_blocking_keys WHERE entry_id = %s", (row["id"],)))
                if stored != (row["mrn"], row["family_name"], row["birth_date"]) or \
                        keys != match_scale.patient_keys(index, seed):
                    return False
            return True
    except Exception:  # noqa: BLE001 - missing, half-loaded or another schema: load it again
        return False


def roster_database(admin_url: str, name: str, options: Options) -> str:
    """The URL of registration's bench database: the kept roster when it checks out, else a fresh one."""
    from sqlalchemy.engine import make_url

    from bench.suite import fresh_database
    from shared.database import normalise_url
    url = make_url(normalise_url(admin_url)).set(database=name).render_as_string(hide_password=False)
    if not options.fresh_roster and roster_ready(url, options.match_patients):
        print(f"bench: {name} holds the {options.match_patients:,}-patient roster already: reused", flush=True)
        return url
    return fresh_database(admin_url, name)


def prepare_roster(admin_url: str, url: str, patients: int) -> dict:
    """Load the roster into a freshly migrated database, or reset a kept one; what was done. A load
    cut short (a failure, Ctrl-C) drops the database: half a roster is of no use to the next run."""
    with _connect(url, autocommit=True) as conn:
        marker = _marker(conn)
        if marker:
            conn.execute("TRUNCATE throttles, audit_events")
            loaded_at = marker["loaded_at"].astimezone(timezone.utc)
            return {"loaded": False, **marker, "loaded_at": f"{loaded_at:%Y-%m-%d %H:%M} UTC"}
    print(f"bench: loading the {patients:,}-patient roster (match_scale.load_roster, COPY) …", flush=True)
    started = time.perf_counter()
    try:
        match_scale.load_roster(url, patients, SEED)
    except BaseException:
        from bench.suite import drop_database
        drop_database(admin_url, _database(url))
        raise
    seconds = time.perf_counter() - started
    with _connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {MARKER} (patients integer NOT NULL, seed bigint NOT NULL, loader text NOT NULL, "
                     "load_seconds double precision NOT NULL, loaded_at timestamptz NOT NULL DEFAULT now())")
        conn.execute(f"INSERT INTO {MARKER} (patients, seed, loader, load_seconds) VALUES (%s, %s, %s, %s)",
                     (patients, SEED, LOADER, seconds))
    print(f"bench: roster loaded in {seconds:.0f} s", flush=True)
    return {"loaded": True, "patients": patients, "seed": SEED, "load_seconds": seconds}


# -- the queries ----------------------------------------------------------------------------------
def parameters(query, count: int = 5) -> dict:
    """A FHIR Parameters resource for ``$match``: the typed Patient, at most ``count`` answers."""
    patient = {"resourceType": "Patient", "name": [{"use": "official", "family": query.family,
                                                    "given": [query.given]}],
               "birthDate": query.birth_date.isoformat()}
    if query.zip:
        patient["address"] = [{"use": "home", "postalCode": query.zip}]
    return {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": patient},
                                                        {"name": "count", "valueInteger": count}]}


def write_queries(path, patients: int, count: int) -> dict:
    """``count`` lines "<MRN>\\t<Parameters JSON>"; how many of each kind of typo."""
    kinds: dict[str, int] = {}
    lines = []
    for row, kind, query in match_scale.typed_queries(patients, count, SEED):
        kinds[kind] = kinds.get(kind, 0) + 1
        lines.append(f"{row['mrn']}\t{json.dumps(parameters(query), separators=(',', ':'))}")
    path.write_text("\n".join(lines) + "\n")
    return kinds


# -- the flow -------------------------------------------------------------------------------------
def match(ctx: Context) -> list[Row]:
    options = ctx.options
    patients, connections = options.match_patients, options.match_connections
    url = ctx.env["registration"]["REGISTRATION_DATABASE_URL"]
    roster = prepare_roster(ctx.admin_url, url, patients)
    identity, registration = ctx.identity(), ctx.registration()
    clients = seed_match_clients(ctx.env["identity"], CLIENTS)
    tokens = ctx.work_dir / "match-tokens.txt"
    tokens.write_text("\n".join(client_token(identity.url, c, "registration:match") for c in clients) + "\n")
    queries = ctx.work_dir / "match-queries.txt"
    kinds = write_queries(queries, patients, QUERIES)
    path = f"/Patient/$match?practice={match_scale.PRACTICE}"
    checked = _ask_once(registration.url + path, queries, tokens)
    inprocess = ctx.measure_limit("match", "in-process searches/s on one thread", lambda: _search_limit(
        ctx, _database(url), patients))
    wrk_env = {"BENCH_PATH": path, "BENCH_QUERIES": str(queries), "BENCH_TOKENS": str(tokens)}
    # the target is a query's own latency: one request at a time, end to end over HTTP
    row = ctx.measure(f"$match, {patients:,}-patient roster, one query at a time (registration over HTTP)",
                      [registration], registration.url, "match.lua", connections=1, threads=1, env=wrk_env)
    # and a registration burst: as many at once as the server has threads (queueing included)
    burst = ctx.measure(f"$match, {patients:,}-patient roster, burst of {connections} concurrent", [registration],
                        registration.url, "match.lua", connections=connections, threads=connections, env=wrk_env,
                        warmup=False)
    latency = row.extra["request_latency_ms"]
    row.target_text = f"p95 ≤ {TARGET_P95_MS:g} ms"
    row.met = latency["p95"] <= TARGET_P95_MS and row.failed == 0
    row.limit_name, row.limit_value = ctx.limits["match"][0], inprocess
    burst.limit_name, burst.limit_value = row.limit_name, inprocess
    quality = {"answered": 0, "true_patient_first": 0, "true_patient_found": 0}
    for measured in (row, burst):
        counts = measured.extra.get("counters", {})
        quality["answered"] += counts.get("answered", 0)
        quality["true_patient_first"] += counts.get("first", 0)
        quality["true_patient_found"] += counts.get("found", 0)
    row.extra.update(p95_ms=latency["p95"], roster=roster, query_kinds=kinds, first_request=checked, quality=quality,
                     burst={"per_second": round(burst.per_second, 1), "latency_ms": burst.extra["request_latency_ms"],
                            "failed": burst.failed, "cpu_ms": burst.cpu_ms, "postgres_cpu_ms": burst.postgres_cpu_ms})
    row.notes += _notes(row, burst, ctx.match_limit)
    burst.notes.append(f"p95 {burst.extra['request_latency_ms']['p95']:.1f} ms: {connections} at once on 2 cores "
                       f"wait for each other (no target: the target is per query, above)")
    return [row, burst]


def _ask_once(url: str, queries, tokens) -> str:
    """One ``$match`` by hand before wrk: it must answer a Bundle (else the flow fails loudly)."""
    mrn, body = queries.read_text().split("\n", 1)[0].split("\t")
    answer = requests.post(url, data=body, timeout=30, headers={
        "Authorization": f"Bearer {tokens.read_text().split()[0]}", "Content-Type": "application/fhir+json"})
    if answer.status_code != 200 or answer.json().get("resourceType") != "Bundle":
        raise RuntimeError(f"$match answered {answer.status_code}: {answer.text[:300]}")
    return f"{mrn} {'first' if _first_id(answer.json()) == mrn else 'NOT first'}"


def _notes(row: Row, burst: Row, limit: dict) -> list[str]:
    latency, quality, roster = row.extra["request_latency_ms"], row.extra["quality"], row.extra["roster"]
    kinds = ", ".join(f"{v} {k}" for k, v in sorted(row.extra["query_kinds"].items()))
    return [
        f"p95 {latency['p95']:.1f} ms (target ≤ {TARGET_P95_MS:g}), p90 {latency['p90']:.1f} ms; {row.failed} failed; "
        f"statuses {row.extra['statuses']}; {CLIENTS} operator clients' tokens in turn (600 $match a minute each)",
        f"true patient ranked first in {quality['true_patient_first']:,} of {quality['answered']:,} answers (in the "
        f"answer at all: {quality['true_patient_found']:,}); {QUERIES:,} distinct queries ({kinds})",
        _roster_note(roster),
        f"limit: in-process roster.search on one thread (no HTTP, token, throttle or audit): p50 {limit['p50_ms']} / "
        f"p95 {limit['p95_ms']} ms over {LIMIT_QUERIES} queries",
    ]


def _search_limit(ctx: Context, database: str, patients: int) -> float:
    result = match_scale.measure(ctx.admin_url, patients, LIMIT_QUERIES, SEED, database=database)
    ctx.match_limit = result
    return result["queries_per_second_one_thread"]


def _database(url: str) -> str:
    from sqlalchemy.engine import make_url
    return make_url(url).database


def _first_id(bundle: dict) -> str | None:
    entries = bundle.get("entry") or []
    return entries[0]["resource"]["id"] if entries else None


def _roster_note(roster: dict) -> str:
    if roster["loaded"]:
        return (f"roster loaded in this run: {roster['load_seconds']:.0f} s ({roster['patients']:,} patients, "
                f"seed {roster['seed']}); carekey_bench_registration is kept for the next run (--drop-roster)")
    return (f"roster reused (kept from {roster['loaded_at']}, loaded then in "
            f"{roster['load_seconds']:.0f} s; checked: marker, count, sampled keys); --fresh-roster reloads it")
