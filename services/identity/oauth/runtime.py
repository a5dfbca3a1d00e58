"""What Authlib's hooks need at request time, handed to them by the server (no Flask imports)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from sqlalchemy.orm import Session

from services.identity.db.models import SsoSession


@dataclass
class AuthorizationContext:
    """Set by the authorization pages before a code is issued: who signed in, for whom."""
    sso: SsoSession
    patient_id: str | None = None
    claims: dict[str, Any] | None = None


@dataclass
class Runtime:
    settings: Any
    keyring: Any
    db: Callable[[], Session]
    client_ip: Callable[[], str | None] = lambda: None
    authorization: Callable[[], AuthorizationContext | None] = lambda: None
    clients: Any = None  # a ClientCache (PostgreSQL), or None: every lookup reads the database
    extras: dict[str, Any] = field(default_factory=dict)
