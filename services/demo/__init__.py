"""Demo data for the embedded default (`make run`, `carekey demo seed`) and docker compose: the two demo
practices, their rosters and charts, the portals' clients and a demo account. Owned by the launcher, not by
any service: each module seeds one service's database through that service's own domain code.

- ``identity``: registration's client, the portals' clients (``portal_clients``) and the demo account;
- ``registration``: the practices, their rosters and an invitation;
- ``records``: the practices' rules and the synthetic charts (``charts``);
- ``portals``: the demo portals as processes of `carekey run`, and the walk-through it prints.
"""
from __future__ import annotations

import importlib
from types import ModuleType

SEEDED = ("identity", "registration", "records")  # notifications has nothing to seed


def for_service(service: str) -> ModuleType | None:
    """The module that seeds *service*'s database, or None when it has nothing to seed."""
    return importlib.import_module(f"services.demo.{service}") if service in SEEDED else None
