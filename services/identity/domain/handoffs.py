"""One-time sign-in handoffs: registration has just watched a patient prove who they are and set a
password, and hands them to identity to start their SSO session, then on to their practice's portal.

Made only by registration (client credentials, ``identity:accounts``), for one account and one client;
the token is random, stored as a digest, lives 2 minutes and works once. It may only send the browser
back to an origin the client registered (one of its redirect URIs' origins), so it is no open redirect.
"""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import update
from sqlalchemy.orm import Session

from services.identity.db.models import Account, Client, SignInHandoff
from services.identity.domain import secrets
from services.identity.domain.time import aware, now

LIFETIME = timedelta(minutes=2)


class HandoffError(ValueError):
    """The handoff cannot be made; the message is safe to show the calling service."""


def _origin(uri: str) -> tuple[str, str]:
    parts = urlsplit(uri)
    return parts.scheme, parts.netloc


def create(session: Session, account: Account, client: Client, return_to: str) -> str:
    if client.disabled_at is not None or account.disabled_at is not None:
        raise HandoffError("The client or the account is disabled.")
    if not return_to or _origin(return_to) not in {_origin(u) for u in client.redirect_uris or []}:
        raise HandoffError("return_to must be on one of the client's registered origins.")
    token = secrets.new_secret(32)
    moment = now()
    session.add(SignInHandoff(digest=secrets.digest(token), account_id=account.id, client_id=client.client_id,
                              return_to=return_to, created_at=moment, expires_at=moment + LIFETIME))
    session.flush()
    return token


def redeem(session: Session, token: str) -> SignInHandoff | None:
    """The handoff behind a token, used up now; None when unknown, used or expired."""
    if not token or len(token) > 100:
        return None
    digest = secrets.digest(token)
    handoff = session.get(SignInHandoff, digest)
    if handoff is None or handoff.used_at is not None or aware(handoff.expires_at) <= now():
        return None
    claimed = session.execute(update(SignInHandoff).where(SignInHandoff.digest == digest,
                                                          SignInHandoff.used_at.is_(None)).values(used_at=now()))
    return handoff if claimed.rowcount == 1 else None
