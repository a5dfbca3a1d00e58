"""$match at scale: a synthetic roster of N patients (1,000,000 by default) in PostgreSQL, then queries
with the typos patients make, timed end to end through registration's search (indexed blocking-key
lookup, candidate fetch, scoring), in-process with a real database session.

    python bench/match_scale.py [--patients 1000000] [--queries 1000] [--database-url URL] [--keep]

The roster is generated deterministically (seeded): pronounceable surnames and given names, birth
dates over 90 years, 3,000 zip codes, phones, emails. It is loaded with COPY into a fresh database
(``carekey_bench_match``), migrated with registration's own Alembic tree, so the tables and indexes
are exactly production's. Each query is a roster patient as they might type themselves: exact (40 %),
a surname typo (20 %), day and month swapped (20 %) or a nickname/typo in the given name (20 %).

Prints p50/p95/p99 latency, queries per second on one thread, and how often the true patient came
first; writes ``bench/results/match_scale.json``. HTTP and token checks add about a millisecond on top
(see the records read flow for their cost).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import statistics
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SYLLABLES = ["ba", "ka", "do", "ri", "mo", "len", "sa", "tor", "vi", "na", "ho", "ge", "lu", "mar", "pe", "zan",
             "fi", "ro", "del", "che", "wu", "yo", "ter", "bri", "son", "ley", "man", "gar", "ci", "ne", "ki", "ta"]
GIVEN = ["James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "William", "Elizabeth",
         "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen",
         "Christopher", "Lisa", "Daniel", "Nancy", "Matthew", "Betty", "Anthony", "Margaret", "Mark", "Sandra",
         "Donald", "Ashley", "Steven", "Kimberly", "Paul", "Emily", "Andrew", "Donna", "Joshua", "Michelle",
         "Kenneth", "Carol", "Kevin", "Amanda", "Brian", "Dorothy", "George", "Melissa", "Timothy", "Deborah",
         "Maria", "Jose", "Luis", "Ana", "Wei", "Mei", "Aisha", "Omar", "Priya", "Raj", "Sofia", "Liam", "Noah",
         "Mia", "Ava", "Ethan", "Chloe", "Lucas", "Zoe", "Mateo", "Isabella", "Elena", "Hugo", "Ines", "Kai"]
NICKNAMES = {"Robert": "Bob", "William": "Bill", "Elizabeth": "Liz", "Richard": "Dick", "James": "Jim",
             "Margaret": "Peggy", "Joseph": "Joe", "Michael": "Mike", "Thomas": "Tom", "Jennifer": "Jen",
             "Christopher": "Chris", "Daniel": "Dan", "Matthew": "Matt", "Anthony": "Tony", "Steven": "Steve"}
PRACTICE = "bench-practice"


def person_row(index: int, rng: random.Random) -> dict:
    family = "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 3, 3, 4)))).capitalize()
    given = rng.choice(GIVEN) if rng.random() < 0.7 else "".join(rng.choice(SYLLABLES) for _ in range(2)).capitalize()
    born = date(1935, 1, 1) + timedelta(days=rng.randrange(90 * 365))
    return {"id": index + 1, "mrn": f"b{index:07d}", "given_name": given, "family_name": family, "birth_date": born,
            "sex": rng.choice(("male", "female")), "zip": f"{rng.randrange(97000, 100000):05d}",
            "phone": f"555{rng.randrange(10**7):07d}", "email": f"{given}.{family}{index}@example.org".lower(),
            "address": f"{rng.randrange(1, 9999)} {rng.choice(('Oak', 'Elm', 'Main', 'Pine', 'Cedar'))} St"}


def _rows(start: int, stop: int, seed: int) -> list[dict]:
    return [person_row(i, random.Random(seed * 10_000_019 + i)) for i in range(start, stop)]


def _keys_for(chunk: tuple[int, int, int]) -> tuple[list[dict], list[tuple[int, str]]]:
    from services.registration.domain import matching
    rows = _rows(*chunk)
    keys = []
    for row in rows:
        person = matching.Person(given=row["given_name"], family=row["family_name"], birth_date=row["birth_date"],
                                 sex=row["sex"], zip=row["zip"], phone=row["phone"], email=row["email"],
                                 address=row["address"])
        keys.extend((row["id"], key[:120]) for key in matching.blocking_keys(person))
    return rows, keys


def load(database_url: str, patients: int, seed: int, database: str = "carekey_bench_match") -> float:
    """Create, migrate and fill the bench database; returns the seconds it took."""
    import psycopg
    from sqlalchemy.engine import make_url
    from services import registry
    from shared.database import normalise_url
    from shared.migrations import upgrade
    started = time.perf_counter()
    admin = make_url(normalise_url(database_url))
    target = admin.set(database=database)
    with psycopg.connect(plain_url(admin), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')
    url = target.render_as_string(hide_password=False)
    settings = registry.settings("registration", {"CAREKEY_ENV": "test", "REGISTRATION_DATABASE_URL": url,
                                                  "AMQP_URL": "memory://"})
    upgrade(registry.migrations("registration", settings))
    load_roster(url, patients, seed)
    return time.perf_counter() - started


def plain_url(url) -> str:
    """A SQLAlchemy URL as libpq (psycopg) takes it."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def load_roster(database_url: str, patients: int, seed: int) -> None:
    """Fill a database migrated with registration's Alembic tree (and empty) with the synthetic
    roster: practice ``PRACTICE``, ``patients`` entries and their blocking keys, by COPY (keys
    computed in two processes), then ANALYZE. The keys table's lookup index, primary key and foreign
    key are dropped for the COPY and put back after, from their own definitions (one sort and one
    check each instead of ~8 per patient): the tables end exactly as the migrations made them. The
    practice's matching model is estimated from the same rows with the domain's own
    ``matching_model.estimate`` (what a roster import does) and stored in ``matching_models``."""
    import psycopg
    from sqlalchemy.engine import make_url
    from shared.database import normalise_url
    moment = datetime.now(timezone.utc)
    with psycopg.connect(plain_url(make_url(normalise_url(database_url)))) as conn:
        conn.execute("INSERT INTO practices (id, name, settings, created_at, updated_at) VALUES (%s, %s, %s, %s, %s)",
                     (PRACTICE, "Bench Practice", "{}", moment, moment))
        constraints = conn.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = "
                                   "'roster_blocking_keys'::regclass AND contype IN ('p', 'f') "
                                   "ORDER BY contype DESC").fetchall()  # the primary key first
        for name, _ in constraints:
            conn.execute(f'ALTER TABLE roster_blocking_keys DROP CONSTRAINT "{name}"')
        conn.execute("DROP INDEX ix_blocking_lookup")
        chunks = [(start, min(start + 20_000, patients), seed) for start in range(0, patients, 20_000)]
        with multiprocessing.get_context("fork").Pool(2) as pool:
            for rows, keys in pool.imap(_keys_for, chunks):
                with conn.cursor().copy("COPY roster_entries (id, practice_id, mrn, given_name, middle_name, "
                                        "family_name, birth_date, sex, address, city, state, zip, email, phone, "
                                        "created_at, updated_at) FROM STDIN") as copy:
                    for r in rows:
                        copy.write_row((r["id"], PRACTICE, r["mrn"], r["given_name"], "", r["family_name"],
                                        r["birth_date"], r["sex"], r["address"], "", "", r["zip"], r["email"],
                                        r["phone"], moment, moment))
                with conn.cursor().copy("COPY roster_blocking_keys (entry_id, key, practice_id) FROM STDIN") as copy:
                    for entry_id, key in keys:
                        copy.write_row((entry_id, key, PRACTICE))
        conn.execute("SET maintenance_work_mem = '256MB'")
        conn.execute("CREATE INDEX ix_blocking_lookup ON roster_blocking_keys (practice_id, key)")
        for name, definition in constraints:
            conn.execute(f'ALTER TABLE roster_blocking_keys ADD CONSTRAINT "{name}" {definition}')
        conn.execute(f"SELECT setval(pg_get_serial_sequence('roster_entries', 'id'), {patients})")
        model = estimate_model(patients, seed)
        conn.execute("INSERT INTO matching_models (practice_id, roster_size, params, estimated_at) "
                     "VALUES (%s, %s, %s, %s)", (PRACTICE, model.size, json.dumps(model.as_dict()), moment))
        conn.commit()
        conn.execute("ANALYZE")


def _people(patients: int, seed: int):
    from services.registration.domain import matching
    for start in range(0, patients, 20_000):
        for row in _rows(start, min(start + 20_000, patients), seed):
            yield matching.Person(given=row["given_name"], family=row["family_name"], birth_date=row["birth_date"],
                                  sex=row["sex"], zip=row["zip"], phone=row["phone"], email=row["email"],
                                  address=row["address"])


def estimate_model(patients: int, seed: int):
    """The roster's matching model, as a roster import would store it."""
    from services.registration.domain.matching_model import estimate
    return estimate(_people(patients, seed))


def patient_keys(index: int, seed: int) -> list[str]:
    """The blocking keys the loader stores for roster patient ``index`` (to check a kept roster)."""
    return sorted(key for _, key in _keys_for((index, index + 1, seed))[1])


def patient_row(index: int, seed: int) -> dict:
    """Roster patient ``index`` as the loader wrote it."""
    return _rows(index, index + 1, seed)[0]


def perturb(row: dict, rng: random.Random):
    from services.registration.domain import matching
    given, family, born = row["given_name"], row["family_name"], row["birth_date"]
    kind = rng.choices(("exact", "surname typo", "day-month swap", "given variant"), (40, 20, 20, 20))[0]
    if kind == "surname typo" and len(family) > 3:
        i = rng.randrange(1, len(family) - 1)
        family = family[:i] + family[i + 1] + family[i] + family[i + 2:]
    elif kind == "day-month swap" and born.day <= 12 and born.day != born.month:
        born = born.replace(month=born.day, day=born.month)
    elif kind == "given variant":
        given = NICKNAMES.get(given, given[:-1] + ("a" if given[-1] != "a" else "e"))
    return kind, matching.Person(given=given, family=family, birth_date=born, zip=row["zip"])


def typed_queries(patients: int, count: int, seed: int) -> list[tuple[dict, str, object]]:
    """``count`` roster patients (drawn with their own seed) as they might type themselves: the row the
    loader wrote, the kind of typo, the query (a ``matching.Person``)."""
    rng = random.Random(seed + 2)
    found = []
    for _ in range(count):
        row = patient_row(rng.randrange(patients), seed)
        kind, query = perturb(row, rng)
        found.append((row, kind, query))
    return found


def measure(database_url: str, patients: int, queries: int, seed: int, *,
            database: str = "carekey_bench_match") -> dict:
    from sqlalchemy.engine import make_url
    from services.registration.domain import matching, roster
    from shared.database import make_engine, make_session_factory, normalise_url
    url = make_url(normalise_url(database_url)).set(database=database).render_as_string(hide_password=False)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    rng = random.Random(seed + 1)
    picks = [rng.randrange(patients) for _ in range(queries)]
    timings, first, found, certain = [], 0, 0, 0
    with sessions() as session:
        for warm in picks[:20]:  # connection and plan caches
            roster.search(session, PRACTICE, perturb(_rows(warm, warm + 1, seed)[0], rng)[1], matching.Thresholds())
        for index in picks:
            row = _rows(index, index + 1, seed)[0]
            _, query = perturb(row, rng)
            started = time.perf_counter()
            ranked = roster.search(session, PRACTICE, query, matching.Thresholds(), limit=5)
            timings.append((time.perf_counter() - started) * 1000)
            mrns = [entry.mrn for entry, _ in ranked]
            first += bool(mrns) and mrns[0] == row["mrn"]
            certain += bool(mrns) and mrns[0] == row["mrn"] and ranked[0][1].grade == matching.CERTAIN
            found += row["mrn"] in mrns
    engine.dispose()
    timings.sort()
    pick = lambda q: timings[min(len(timings) - 1, int(q * len(timings)))]  # noqa: E731
    return {"patients": patients, "queries": queries, "p50_ms": round(pick(0.50), 2), "p95_ms": round(pick(0.95), 2),
            "p99_ms": round(pick(0.99), 2), "mean_ms": round(statistics.fmean(timings), 2),
            "queries_per_second_one_thread": round(1000 / statistics.fmean(timings), 1),
            "true_patient_first": round(first / queries, 4), "true_patient_in_top5": round(found / queries, 4),
            "true_patient_certain": round(certain / queries, 4),
            "target_p95_ms": 20}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--database", default="carekey_bench_match",
                        help="the bench database to create (dropped at the end unless --keep)")
    parser.add_argument("--reuse", action="store_true", help="skip loading: the database is already there")
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    args = parser.parse_args(argv)
    load_seconds = None if args.reuse else load(args.database_url, args.patients, args.seed, args.database)
    result = measure(args.database_url, args.patients, args.queries, args.seed, database=args.database)
    result["load_seconds"] = round(load_seconds, 1) if load_seconds else None
    result["measured_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    out = ROOT / "bench" / "results" / "match_scale.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"$match over {args.patients:,} patients: p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, "
          f"p99 {result['p99_ms']} ms ({result['queries_per_second_one_thread']}/s on one thread); true patient "
          f"first {result['true_patient_first']:.1%} (certain {result['true_patient_certain']:.1%}), in top 5 "
          f"{result['true_patient_in_top5']:.1%}"
          + (f"; loaded in {result['load_seconds']} s" if load_seconds else ""))
    if not args.keep:
        import psycopg
        from sqlalchemy.engine import make_url
        from shared.database import normalise_url
        admin = make_url(normalise_url(args.database_url)).set(drivername="postgresql")
        with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
