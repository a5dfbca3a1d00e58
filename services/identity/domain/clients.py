"""Registered clients: practice portals, third-party (SMART) apps and internal services."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.identity.db.models import Client
from services.identity.domain import scopes as scope_rules
from services.identity.domain import secrets
from services.identity.domain.time import aware, now

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
LOOPBACK = {"localhost", "127.0.0.1", "::1"}


class ClientError(ValueError):
    """A client registration that cannot be accepted; the message is safe to show."""


@dataclass
class ClientSpec:
    name: str
    redirect_uris: list[str] = field(default_factory=list)
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    backchannel_logout_uri: str | None = None
    public: bool = False
    first_party: bool = False
    practice_id: str | None = None
    scope: str = "openid profile email"
    grant_types: list[str] | None = None
    token_endpoint_auth_method: str | None = None
    id_token_signed_response_alg: str = "ES256"
    subject_type: str = "pairwise"
    sector_identifier: str | None = None
    jwks: dict[str, Any] | None = None


def validate_uri(uri: str, *, what: str) -> str:
    parts = urlsplit(uri)
    if not parts.scheme or "#" in uri or (parts.scheme in ("http", "https") and not parts.hostname):
        raise ClientError(f"{what} must be an absolute URI without a fragment: {uri!r}")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK:
        raise ClientError(f"{what} must use https (http is allowed only for localhost): {uri!r}")
    if parts.scheme in ("javascript", "data", "file", "vbscript"):
        raise ClientError(f"{what} uses a forbidden scheme: {uri!r}")
    return uri


def _validated(spec: ClientSpec) -> ClientSpec:
    if not spec.name.strip():
        raise ClientError("A client needs a name.")
    spec.redirect_uris = [validate_uri(u, what="redirect URI") for u in spec.redirect_uris]
    spec.post_logout_redirect_uris = [validate_uri(u, what="post-logout redirect URI")
                                      for u in spec.post_logout_redirect_uris]
    if spec.backchannel_logout_uri:
        validate_uri(spec.backchannel_logout_uri, what="back-channel logout URI")
    unknown = [s for s in spec.scope.split() if not scope_rules.is_known(s)]
    if unknown:
        raise ClientError(f"Unknown scopes: {' '.join(unknown)}")
    if spec.grant_types is None:
        spec.grant_types = (["authorization_code", "refresh_token"] if spec.redirect_uris
                            else ["client_credentials"])
    if "authorization_code" in spec.grant_types and not spec.redirect_uris:
        raise ClientError("A client using the authorization code flow needs at least one redirect URI.")
    if spec.public and "client_credentials" in spec.grant_types:
        raise ClientError("A public client cannot use client_credentials.")
    method = spec.token_endpoint_auth_method or ("none" if spec.public else
                                                 "private_key_jwt" if spec.jwks else "client_secret_basic")
    if method not in AUTH_METHODS or (method == "none") != spec.public:
        raise ClientError("Public clients authenticate with 'none'; confidential ones with a secret or a key.")
    if method == "private_key_jwt" and not spec.jwks:
        raise ClientError("private_key_jwt needs the client's public keys (jwks).")
    spec.token_endpoint_auth_method = method
    if spec.id_token_signed_response_alg not in ("ES256", "RS256"):
        raise ClientError("ID tokens are signed with ES256 or RS256.")
    if spec.subject_type not in ("public", "pairwise"):
        raise ClientError("subject_type is 'public' or 'pairwise'.")
    return spec


def new_client_id() -> str:
    """Random and safe anywhere: hex never starts with '-' (a CLI option) or needs escaping."""
    import secrets as random
    return random.token_hex(16)


def create_client(session: Session, spec: ClientSpec, *, client_id: str | None = None) -> tuple[Client, str | None]:
    """Register a client; returns it and its secret (shown once; only its digest is kept)."""
    spec = _validated(spec)
    secret = None if spec.public or spec.token_endpoint_auth_method == "private_key_jwt" else secrets.new_secret(32)
    client = Client(client_id=client_id or new_client_id(), name=spec.name.strip(),
                    secret_digest=secrets.digest(secret) if secret else None, public=spec.public,
                    first_party=spec.first_party, practice_id=spec.practice_id, redirect_uris=spec.redirect_uris,
                    post_logout_redirect_uris=spec.post_logout_redirect_uris,
                    backchannel_logout_uri=spec.backchannel_logout_uri, scope=" ".join(spec.scope.split()),
                    grant_types=spec.grant_types, token_endpoint_auth_method=spec.token_endpoint_auth_method,
                    id_token_signed_response_alg=spec.id_token_signed_response_alg,
                    subject_type=spec.subject_type, sector_identifier=spec.sector_identifier,
                    jwks=spec.jwks, created_at=now())
    session.add(client)
    session.flush()
    return client, secret


UPDATABLE = ("name", "redirect_uris", "post_logout_redirect_uris", "backchannel_logout_uri", "first_party",
             "practice_id", "scope", "id_token_signed_response_alg", "subject_type", "sector_identifier", "jwks")


def update_client(session: Session, client: Client, changes: dict[str, Any]) -> Client:
    unknown = set(changes) - set(UPDATABLE)
    if unknown:
        raise ClientError(f"Cannot change: {', '.join(sorted(unknown))}")
    spec = ClientSpec(**{**describe(client, spec_only=True), **changes})
    spec = _validated(spec)
    for name in UPDATABLE:
        setattr(client, name, getattr(spec, name))
    client.scope = " ".join(spec.scope.split())
    return client


def rotate_secret(client: Client) -> str:
    if client.public or client.token_endpoint_auth_method == "private_key_jwt":
        raise ClientError("This client does not use a secret.")
    secret = secrets.new_secret(32)
    client.secret_digest = secrets.digest(secret)
    return secret


def disable_client(client: Client) -> None:
    client.disabled_at = client.disabled_at or now()


def find(session: Session, client_id: str) -> Client | None:
    return session.get(Client, client_id) if client_id else None


def list_clients(session: Session) -> list[Client]:
    return list(session.scalars(select(Client).order_by(Client.created_at)).all())


def describe(client: Client, *, spec_only: bool = False) -> dict[str, Any]:
    data = {
        "name": client.name, "redirect_uris": list(client.redirect_uris or []),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris or []),
        "backchannel_logout_uri": client.backchannel_logout_uri, "public": client.public,
        "first_party": client.first_party, "practice_id": client.practice_id, "scope": client.scope,
        "grant_types": list(client.grant_types or []),
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "id_token_signed_response_alg": client.id_token_signed_response_alg,
        "subject_type": client.subject_type, "sector_identifier": client.sector_identifier, "jwks": client.jwks,
    }
    if spec_only:
        return data
    return {"client_id": client.client_id, **data, "created_at": aware(client.created_at).isoformat(),
            "disabled": client.disabled_at is not None}
