"""SSO sessions: server-side, behind one random cookie whose digest is stored, with idle and
absolute timeouts, and a list of clients each session signed in to."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.identity.db.models import Client, SessionClient, SsoSession
from services.identity.domain import secrets
from services.identity.domain.time import aware, now


@dataclass(frozen=True)
class Timeouts:
    idle: timedelta
    absolute: timedelta


def start(session: Session, account_id: str, *, amr: list[str], acr: str, timeouts: Timeouts,
          ip: str | None, user_agent: str | None) -> tuple[SsoSession, str]:
    """A new session; returns it and the cookie value (shown once, stored as a digest)."""
    cookie = secrets.new_secret()
    moment = now()
    sso = SsoSession(id=str(uuid.uuid4()), token_digest=secrets.digest(cookie), account_id=account_id,
                     auth_time=moment, amr=amr, acr=acr, created_at=moment, last_seen_at=moment,
                     expires_at=moment + timeouts.absolute, ip=ip, user_agent=(user_agent or "")[:300])
    session.add(sso)
    session.flush()
    return sso, cookie


def current(session: Session, cookie: str | None, timeouts: Timeouts, *, touch: bool = True) -> SsoSession | None:
    """The live session behind a cookie, or None when absent, ended, idle too long or too old."""
    if not cookie:
        return None
    sso = session.scalar(select(SsoSession).where(SsoSession.token_digest == secrets.digest(cookie)))
    if sso is None or sso.ended_at is not None:
        return None
    moment = now()
    if aware(sso.expires_at) <= moment or aware(sso.last_seen_at) + timeouts.idle <= moment:
        sso.ended_at = moment
        return None
    if touch and moment - aware(sso.last_seen_at) > timedelta(seconds=30):
        sso.last_seen_at = moment
    return sso


def reauthenticated(sso: SsoSession, *, amr: list[str], acr: str) -> None:
    sso.auth_time = now()
    sso.amr, sso.acr = amr, acr


def end(session: Session, sso: SsoSession) -> list[Client]:
    """End a session; returns the clients it signed in to (for back-channel logout)."""
    sso.ended_at = now()
    return list(session.scalars(select(Client).join(SessionClient, SessionClient.client_id == Client.client_id)
                                .where(SessionClient.session_id == sso.id)).all())


def remember_client(session: Session, sso: SsoSession, client_id: str, patient_id: str | None) -> None:
    link = session.get(SessionClient, (sso.id, client_id))
    if link is None:
        session.add(SessionClient(session_id=sso.id, client_id=client_id, patient_id=patient_id,
                                  first_seen_at=now()))
    elif patient_id:
        link.patient_id = patient_id


def remembered_patient(session: Session, sso: SsoSession, client_id: str) -> str | None:
    link = session.get(SessionClient, (sso.id, client_id))
    return link.patient_id if link else None


def active_for_account(session: Session, account_id: str) -> list[SsoSession]:
    moment = now()
    rows = session.scalars(select(SsoSession).where(SsoSession.account_id == account_id,
                                                    SsoSession.ended_at.is_(None))
                           .order_by(SsoSession.last_seen_at.desc())).all()
    return [row for row in rows if aware(row.expires_at) > moment]


def end_all_for_account(session: Session, account_id: str, keep: str | None = None) -> None:
    statement = update(SsoSession).where(SsoSession.account_id == account_id, SsoSession.ended_at.is_(None))
    if keep:
        statement = statement.where(SsoSession.id != keep)
    session.execute(statement.values(ended_at=now()))
