"""Demo data for `make run` (the embedded default)."""
from __future__ import annotations

from flask import Flask

from shared.database import transaction


def seed(app: Flask) -> list[str]:
    """Seed demo data idempotently; returns lines describing what exists."""
    from services.demo.portal_clients import seed_account, seed_portals
    with transaction(app.extensions["carekey.sessions"]) as session:
        from services.demo.registration_client import seed_registration_client
        return seed_registration_client(session) + seed_portals(session) + seed_account(session)
