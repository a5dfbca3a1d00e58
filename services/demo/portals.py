"""The two demo practice portals under `carekey run`, and the walk-through it prints.

Each portal (examples/portal) runs as its own process with the client id and secret the identity
demo seed wrote to var/demo-portals.json (mode 0600; the secret travels in the child's
environment, never on a command line). Ports: PORTAL_RIVERSIDE_PORT (8101), PORTAL_HILLSIDE_PORT (8102).
"""
from __future__ import annotations

import json
import secrets
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Mapping

from services.demo.portal_clients import CREDENTIALS_FILE, DEMO_ACCOUNT, PORTALS, DemoPortal, read_credentials


@dataclass(frozen=True)
class PortalProcess:
    portal: DemoPortal
    command: list[str]
    env: dict[str, str]
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def ports(environ: Mapping[str, str]) -> dict[str, int]:
    return {portal.practice_id: portal.port(environ) for portal in PORTALS}


def processes(env: dict[str, str], settings: dict, var_dir: Path = Path("var")) -> list[PortalProcess]:
    """One process per demo portal, wired to the running services (credentials from the seed)."""
    credentials = read_credentials(var_dir / CREDENTIALS_FILE.name)
    names = {portal.practice_id: portal.name for portal in PORTALS}
    found = []
    for portal in PORTALS:
        mine = credentials.get(portal.practice_id) or {}
        secret = env.get(portal.secret_variable()) or mine.get("client_secret")
        if not secret:
            raise RuntimeError(f"no client secret for the {portal.practice_id} portal: run `carekey demo seed`")
        port = portal.port(env)
        store = (var_dir / "portals").resolve()
        store.mkdir(parents=True, exist_ok=True)
        child = {**env, "PORTAL_PRACTICE_ID": portal.practice_id, "PORTAL_NAME": portal.name,
                 "PORTAL_CLIENT_ID": portal.client_id, "PORTAL_CLIENT_SECRET": secret,
                 "PORTAL_ISSUER": settings["identity"].public_url, "PORTAL_RECORDS_URL": settings["records"].public_url,
                 "PORTAL_REGISTRATION_URL": settings["registration"].public_url,
                 "PORT": str(port), "PORTAL_PUBLIC_URL": portal.base_url(env),
                 "PORTAL_SECRET_KEY": secrets.token_urlsafe(32), "PORTAL_ACCENT": portal.accent,
                 "PORTAL_PRACTICE_NAMES": json.dumps(names),
                 "PORTAL_DATABASE_URL": f"sqlite:///{store / (portal.practice_id + '.sqlite')}"}
        found.append(PortalProcess(portal, [sys.executable, "-m", "examples.portal"], child, "127.0.0.1", port))
    return found


def _patients(today: date) -> list[dict[str, str]]:
    """Who to try, as the practices have them on file: registration's demo roster (name, date of
    birth, zip, phone, email, office PIN) when it has one, else the records demo patients."""
    names = {portal.practice_id: portal.name for portal in PORTALS}
    try:
        from services.demo import registration as registration_demo
        listed = getattr(registration_demo, "WALKTHROUGH_PATIENTS", None)
        if listed:
            return [dict(p) for p in listed]
        return [{"name": f"{given} {family}", "practice": names.get(practice, practice),
                 "born": registration_demo.born(age, month, day, today).isoformat(), "zip": zip_,
                 "phone": phone, "email": email, "office PIN": pin}
                for practice, _mrn, given, family, age, (month, day), _sex, zip_, email, phone, pin
                in registration_demo.PATIENTS]
    except (ImportError, AttributeError, TypeError, ValueError):
        pass  # no roster (yet), or one shaped otherwise: the records demo still names everyone
    from services.demo.records import PATIENTS, _born
    return [{"name": f"{given} {family}", "practice": names.get(practice, practice),
             "born": _born(age, month, day, today).isoformat(), "patient id": patient_id}
            for practice, patient_id, given, family, age, (month, day), _gender, _consent in PATIENTS]


def guide(settings: dict, portals: list[PortalProcess], today: date | None = None) -> str:
    """The short walk-through `make run` prints: what to open, who to be, where messages land."""
    today = today or date.today()
    outbox = f"{settings['notifications'].public_url}/outbox"
    first, second = portals[0], portals[1]
    lines = ["", "Practice portals (sign-in with CareKey):"]
    for process in portals:
        lines.append(f"  {process.portal.name:<27} {process.url}")
    lines += ["", "Try it in a browser:",
              f"  1. Open {first.url}: choose \"I have an invitation\" (or \"Create an account\") and identify as",
              "     one of the patients below; the practice's codes and invitations arrive by email or text at",
              f"     {outbox} (nothing leaves this machine).",
              f"  2. Open {second.url} and sign in: no password again; connect that practice with a code",
              "     and see both practices' records.",
              "  3. Sign out of one portal, then reload the other: you are signed out there too.",
              f"  Or sign in at once as {DEMO_ACCOUNT['username']} / \"{DEMO_ACCOUNT['password']}\":",
              "     Sofia Patel at Hillside; her son Liam, 13, has not agreed to share his records.",
              "", "Demo patients, as the practices have them on file:"]
    patients = _patients(today)
    columns = [key for key in dict.fromkeys(k for p in patients for k in p)]
    widths = {key: max(len(key), *(len(str(p.get(key, ""))) for p in patients)) for key in columns}
    lines.append("  " + "  ".join(key.replace("_", " ").ljust(widths[key]) for key in columns).rstrip())
    for patient in patients:
        lines.append("  " + "  ".join(str(patient.get(key, "")).ljust(widths[key]) for key in columns).rstrip())
    return "\n".join(lines)
