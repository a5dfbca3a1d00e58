"""Does registration's timing tell a patient from someone who is no one's patient? Measures, in-process
(registration's real app, its own PostgreSQL database), the two steps where the branches differ,
interleaved so drift hits all alike:

* identification (the sign-up POST; every kind is sent on to the proof page):
  - patient: a real patient's details (a candidate, certain);
  - near miss: a real patient's name with a wrong date of birth (a decoy);
  - nobody: a name and date of birth on no roster (a decoy);
* asking for a code by text (the proof page's POST), with the phone number on file typed:
  - sent: the patient's code, written to the outbox for delivery;
  - withheld: a decoy's code, written to the outbox already marked published (never sent).

    python bench/registration_timing.py [--attempts 300] [--database-url URL]

Prints the median and 90th percentile of each and the largest difference between medians in each
step; writes ``bench/results/registration_timing.json``. Each attempt comes from its own address
(per-IP limits would otherwise turn every later attempt into the same refusal) and each real patient is
tried once (per-record limits likewise).
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
import uuid
from datetime import date, datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attempts", type=int, default=300)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--database", default="carekey_bench_timing", help="the bench database (dropped at the end)")
    args = parser.parse_args(argv)

    import psycopg
    from sqlalchemy.engine import make_url
    from services import registry
    from services.registration.domain import practices, roster
    from shared.database import normalise_url, transaction
    from shared.migrations import upgrade

    admin = make_url(normalise_url(args.database_url))
    name = args.database
    plain = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin.set(database=name).render_as_string(hide_password=False)
    env = {"CAREKEY_ENV": "test", "REGISTRATION_DATABASE_URL": url, "AMQP_URL": "memory://",
           "TRUSTED_PROXIES": "1"}
    settings = registry.settings("registration", env)
    upgrade(registry.migrations("registration", settings))
    app = registry.create_app("registration", settings)
    sessions = app.extensions["carekey.sessions"]
    with transaction(sessions) as session:
        practices.save(session, "timing", name="Timing Practice", settings=practices.PracticeSettings())
        for i in range(args.attempts * 2):
            roster.upsert(session, "timing", {"mrn": f"t{i}", "given_name": "Robin", "family_name": f"Tester{i:05d}x",
                                              "birth_date": date(1960 + i % 40, 1 + i % 12, 1 + i % 28), "zip": "97201",
                                              "email": f"t{i}@example.org", "phone": "555-555-0100"},
                          pepper=settings.secret_key)
        roster.refresh_model(session, "timing")

    steps = {"identify": {"patient": [], "near miss": [], "nobody": []},
             "send a code": {"sent": [], "withheld": []}}

    def timed(client, path, form, ip, expected_location):
        started = time.perf_counter()
        response = client.post(path, data=form, headers={"X-Forwarded-For": ip})
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 303 and response.headers["Location"].endswith(expected_location), \
            (path, response.status_code)
        return elapsed

    for i in range(args.attempts):
        for kind in steps["identify"]:
            client = app.test_client()
            ip = f"10.9.{i // 250}.{i % 250}"
            page = client.get("/practices/timing/signup", headers={"X-Forwarded-For": ip})
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
            if kind == "nobody":
                form = {"given_name": "Casey", "family_name": f"Nobody{uuid.uuid4().hex[:6]}", "birth_date": "02/03/1971"}
            elif kind == "near miss":
                form = {"given_name": "Robin", "family_name": f"Tester{i:05d}x", "birth_date": "02/03/1901"}
            else:
                j = args.attempts + i
                form = {"given_name": "Robin", "family_name": f"Tester{j:05d}x",
                        "birth_date": date(1960 + j % 40, 1 + j % 12, 1 + j % 28).strftime("%m/%d/%Y")}
            form.update(zip="97201", email="x@example.org", csrf_token=token)
            steps["identify"][kind].append(timed(client, "/practices/timing/signup", form, ip, "/enroll/prove"))
            if kind == "near miss":
                continue
            page = client.get("/enroll/prove", headers={"X-Forwarded-For": ip})
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
            form = {"method": "sms", "phone": "555-555-0100", "csrf_token": token}
            steps["send a code"]["sent" if kind == "patient" else "withheld"].append(
                timed(client, "/enroll/prove", form, ip, "/enroll/code"))

    result = {"attempts_each": args.attempts,
              "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    for step, kinds in steps.items():
        summary = {}
        for kind, values in kinds.items():
            values.sort()
            summary[kind] = {"median_ms": round(statistics.median(values), 3),
                             "p90_ms": round(values[int(0.9 * len(values))], 3)}
        medians = [s["median_ms"] for s in summary.values()]
        result[step] = {"kinds": summary, "largest_median_gap_ms": round(max(medians) - min(medians), 3)}
    app.extensions["carekey.engine"].dispose()
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    out = ROOT / "bench" / "results" / "registration_timing.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    for step in steps:
        for kind, values in result[step]["kinds"].items():
            print(f"{step:12s} {kind:10s} median {values['median_ms']:7.2f} ms   p90 {values['p90_ms']:7.2f} ms")
        print(f"{step:12s} largest gap between medians: {result[step]['largest_median_gap_ms']} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
