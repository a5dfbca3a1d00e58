"""Registration as a client of identity, for ``make run`` and docker compose: it signs people in
(authorization code, public subjects, first party) and calls the internal API (client credentials,
``identity:accounts``). Its secret is REGISTRATION_CLIENT_SECRET, the same variable registration reads;
in dev, the shared placeholder."""
from __future__ import annotations

import os
from typing import Mapping

from sqlalchemy.orm import Session

from services.identity.domain import clients, secrets
from shared.settings import local_url, stated_url

CLIENT_ID = "carekey-registration"
DEV_SECRET = "dev-registration-client-secret-change-me"  # = services.registration.settings.DEV_CLIENT_SECRET


def seed_registration_client(session: Session, environ: Mapping[str, str] | None = None) -> list[str]:
    environ = os.environ if environ is None else environ
    client_id = environ.get("REGISTRATION_CLIENT_ID") or CLIENT_ID
    public = stated_url("registration", environ) or local_url("registration")  # follows REGISTRATION_PORT
    wanted = clients.ClientSpec(name="CareKey registration", redirect_uris=[f"{public}/oidc/callback"],
                                first_party=True, scope="openid profile identity:accounts",
                                grant_types=["authorization_code", "client_credentials"], subject_type="public",
                                token_endpoint_auth_method="client_secret_basic")
    client = clients.find(session, client_id)
    if client is None:
        client, _ = clients.create_client(session, wanted, client_id=client_id)
    else:
        clients.update_client(session, client, {"redirect_uris": wanted.redirect_uris, "scope": wanted.scope,
                                                "subject_type": "public", "first_party": True})
    client.grant_types = wanted.grant_types
    client.secret_digest = secrets.digest(environ.get("REGISTRATION_CLIENT_SECRET") or DEV_SECRET)
    return [f"client {client_id} (registration: sign-in and the internal API)"]
