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

from services.identity.demo_portals import CREDENTIALS_FILE, DEMO_ACCOUNT, PORTALS, DemoPortal, read_credentials


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
    """Who to try: registration's roster when it publishes one for the walk-through
    (``services.registration.demo.WALKTHROUGH_PATIENTS``), else the records demo patients."""
    try:
        from services.registration import demo as registration_demo
        listed = getattr(registration_demo, "WALKTHROUGH_PATIENTS", None)
        if listed:
            return [dict(p) for p in listed]
    except ImportError:
        pass
    from services.records.demo import PATIENTS, _born
    names = {portal.practice_id: portal.name for portal in PORTALS}
    return [{"name": f"{given} {family}", "birth_date": _born(age, month, day, today).isoformat(),
             "practice": names.get(practice, practice), "patient_id": patient_id,
             "zip": "62701", "phone": "555-0100"}
            for practice, patient_id, given, family, age, (month, day), _gender, _consent in PATIENTS]


def guide(settings: dict, portals: list[PortalProcess], today: date | None = None) -> str:
    """The short walk-through `make run` prints: what to open, who to be, where messages land."""
    today = today or date.today()
    outbox = f"{settings['notifications'].public_url}/outbox"
    lines = ["", "Practice portals (sign-in with CareKey):"]
    for process in portals:
        lines.append(f"  {process.portal.name:<27} {process.url}")
    lines += ["", "Try it in a browser:",
              f"  1. Open {portals[0].url} and choose \"I have an invitation\" or \"Create an account\";",
              "     identify as one of the patients below, with the code sent to their phone or email.",
              f"  2. Emails and texts never leave this machine: read them at {outbox}",
              f"  3. Open {portals[1].url}: you are signed in already; connect that practice with a code.",
              "  4. Sign out of one portal and reload the other: you are signed out there too.",
              f"  Or sign in right away as {DEMO_ACCOUNT['username']} / {DEMO_ACCOUNT['password']!r} "
              "(Sofia Patel at Hillside; her son Liam, 13, is not shared with her).",
              "", "Demo patients (as the practices have them on file):"]
    for patient in _patients(today):
        details = ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in patient.items()
                            if key not in ("name", "practice") and value)
        lines.append(f"  {patient['name']:<16} {patient.get('practice', ''):<26} {details}")
    return "\n".join(lines)
