"""Subject identifiers and the claims released by scope and by the ``claims`` request parameter."""
from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import urlsplit

from services.identity.db.models import Account, Client
from shared import json_text

SCOPE_CLAIMS = {
    "profile": ("name", "given_name", "family_name", "preferred_username"),
    "email": ("email", "email_verified"),
    "phone": ("phone_number",),
}


def sector(client: Client) -> str:
    if client.sector_identifier:
        return client.sector_identifier
    hosts = {urlsplit(uri).hostname for uri in client.redirect_uris or []}
    return sorted(h for h in hosts if h)[0] if hosts - {None} else client.client_id


def subject(account_id: str, client: Client, salt: str) -> str:
    """Public: the account id. Pairwise: differs per sector, so practices cannot correlate."""
    if client.subject_type == "public":
        return account_id
    raw = hashlib.sha256(f"{sector(client)}|{account_id}|{salt}".encode()).digest()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


SCOPE_OF_CLAIM = {claim: scope for scope, claims in SCOPE_CLAIMS.items() for claim in claims}


def implied_scopes(requested: dict[str, Any] | None) -> set[str]:
    """The scopes whose claims the ``claims`` parameter asks for individually."""
    return {SCOPE_OF_CLAIM[name] for name in (requested or {}) if name in SCOPE_OF_CLAIM}


def available_claims(account: Account) -> dict[str, Any]:
    name = " ".join(part for part in (account.given_name, account.family_name) if part) or None
    values = {
        "name": name, "given_name": account.given_name, "family_name": account.family_name,
        "preferred_username": account.username, "email": account.email,
        "email_verified": bool(account.email_verified) if account.email else None,
        "phone_number": account.phone,
    }
    return {key: value for key, value in values.items() if value is not None}


def release(account: Account, scopes: list[str], requested: dict[str, Any] | None,
            allowed_scopes: set[str] | None = None) -> dict[str, Any]:
    """Claims for the granted *scopes*, plus those individually requested through ``claims`` whose
    scope is in *allowed_scopes* (registered for the client and, for third parties, consented)."""
    available = available_claims(account)
    names = {name for scope in scopes for name in SCOPE_CLAIMS.get(scope, ())}
    allowed = set(scopes) | (allowed_scopes or set())
    names |= {name for name in (requested or {}) if SCOPE_OF_CLAIM.get(name) in allowed}
    return {name: available[name] for name in names if name in available}


def parse_claims_parameter(raw: str | None) -> dict[str, dict[str, Any]] | None:
    """The OIDC ``claims`` request parameter (JSON), or None. Raises ValueError when malformed."""
    if not raw:
        return None
    value = json_text.loads(raw)
    if not isinstance(value, dict) or not set(value) <= {"userinfo", "id_token"}:
        raise ValueError("claims must be an object with 'userinfo' and/or 'id_token'")
    for member in value.values():
        if member is not None and not isinstance(member, dict):
            raise ValueError("claims members must be objects")
        for request in (member or {}).values():
            if request is not None and not isinstance(request, dict):
                raise ValueError("each claim request must be null or an object")
    return {key: member or {} for key, member in value.items()}
