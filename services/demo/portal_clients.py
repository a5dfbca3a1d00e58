"""The demo practices' portals (examples/portal) as first-party clients, and a demo account.

``make run`` starts one portal per practice below. Each is registered with a fixed client id; its
secret is made at seed time and written, with the client id, to ``var/demo-portals.json`` (mode
0600), where the launcher reads it. A deployment that must choose the secrets (docker compose)
passes ``DEMO_PORTAL_<PRACTICE>_SECRET`` to the seed and to the portal instead. Seeding again keeps
a secret that still matches and rotates one that was lost.
"""
from __future__ import annotations

import hmac
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from sqlalchemy.orm import Session

from services.identity.domain import accounts, clients, secrets

SCOPE = "openid profile email launch/patient patient/*.rs"
CREDENTIALS_FILE = Path("var") / "demo-portals.json"


@dataclass(frozen=True)
class DemoPortal:
    practice_id: str
    name: str
    default_port: int
    accent: str

    @property
    def client_id(self) -> str:
        return f"portal-{self.practice_id}"

    def port(self, environ: Mapping[str, str]) -> int:
        return int(environ.get(f"PORTAL_{self.practice_id.upper()}_PORT", self.default_port))

    def base_url(self, environ: Mapping[str, str]) -> str:
        return f"http://127.0.0.1:{self.port(environ)}"

    def secret_variable(self) -> str:
        return f"DEMO_PORTAL_{self.practice_id.upper()}_SECRET"


PORTALS = (
    DemoPortal("riverside", "Riverside Family Practice", 8101, "#0b5e4a"),
    DemoPortal("hillside", "Hillside Medical Group", 8102, "#5b2a86"),
)

# A ready-made account to explore with before any registration: Sofia Patel at Hillside, a proxy
# for her son Liam (13, no consent on file: the practice does not share his records with her), and
# not yet connected to Riverside.
DEMO_ACCOUNT = {"username": "sofia.demo", "password": "blue heron willow creek", "email": "sofia.demo@example.org",
                "given_name": "Sofia", "family_name": "Patel"}
DEMO_LINKS = (("hillside", "hs-2002", "self", "Sofia Patel"), ("hillside", "hs-2003", "proxy", "Liam Patel"))


def spec(portal: DemoPortal, environ: Mapping[str, str]) -> clients.ClientSpec:
    base = portal.base_url(environ)
    return clients.ClientSpec(name=f"{portal.name} patient portal", redirect_uris=[f"{base}/callback"],
                              post_logout_redirect_uris=[f"{base}/signed-out"],
                              backchannel_logout_uri=f"{base}/backchannel-logout", first_party=True,
                              practice_id=portal.practice_id, scope=SCOPE)


def seed_portals(session: Session, environ: Mapping[str, str] | None = None,
                 credentials_file: Path = CREDENTIALS_FILE) -> list[str]:
    environ = os.environ if environ is None else environ
    stored = read_credentials(credentials_file)
    written: dict[str, dict[str, str]] = {}
    lines = []
    for portal in PORTALS:
        wanted = spec(portal, environ)
        client = clients.find(session, portal.client_id)
        secret = None
        if client is None:
            client, secret = clients.create_client(session, wanted, client_id=portal.client_id)
        else:
            clients.update_client(session, client, {name: getattr(wanted, name) for name in (
                "name", "redirect_uris", "post_logout_redirect_uris", "backchannel_logout_uri", "first_party",
                "practice_id", "scope")})
        chosen = environ.get(portal.secret_variable())
        if chosen:
            client.secret_digest = secrets.digest(chosen)
            where = f"secret from {portal.secret_variable()}"
        else:
            kept = (stored.get(portal.practice_id) or {}).get("client_secret")
            if secret is None and kept and hmac.compare_digest(secrets.digest(kept), client.secret_digest or ""):
                secret = kept
            elif secret is None:
                secret = clients.rotate_secret(client)
            written[portal.practice_id] = {"client_id": portal.client_id, "client_secret": secret}
            where = f"credentials in {credentials_file}"
        lines.append(f"portal client {portal.client_id} for {portal.practice_id} at {portal.base_url(environ)} "
                     f"({where})")
    if written:
        write_credentials(credentials_file, {**stored, **written})
    return lines


def seed_account(session: Session) -> list[str]:
    account = accounts.find_by_username(session, DEMO_ACCOUNT["username"])
    if account is None:
        account = accounts.create_account(session, **DEMO_ACCOUNT)
    for practice, patient, relationship, name in DEMO_LINKS:
        accounts.link_patient(session, account, practice_id=practice, patient_id=patient, relationship=relationship,
                              display_name=name)
    return [f"demo account {DEMO_ACCOUNT['username']} (Sofia Patel at hillside, proxy for Liam Patel)"]


def read_credentials(path: Path = CREDENTIALS_FILE) -> dict[str, dict[str, str]]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def write_credentials(path: Path, credentials: dict[str, dict[str, str]]) -> None:
    """Written owner-only (0600) from the start: the file holds client secrets."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(credentials, handle, indent=2, sort_keys=True)
    os.chmod(path, 0o600)
