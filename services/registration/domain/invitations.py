"""Office invitations (seeds 000, 001, 003): an email with a single-use link, and an activation code
for the portal's "I have an invitation" page, valid for the practice's lifetime (14 days by default).

A resend voids every earlier invitation for the record. A used, expired, voided or unknown link all
look the same to the person holding it: "ask your practice to resend".
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.registration.db.models import Invitation, RosterEntry, outbox
from services.registration.domain import secrets
from services.registration.domain.practices import PracticeView
from services.registration.domain.time import aware, now
from shared.messaging.notifications import request_notification


class InvitationError(ValueError):
    """The invitation cannot be sent; the message is safe to show an operator."""


@dataclass(frozen=True)
class Sent:
    invitation: Invitation
    link: str              # returned to the operator only in tests' eyes: the email carries it
    activation_code: str


def code_digest(pepper: str, code: str) -> str:
    return secrets.keyed_digest(pepper, "activation", "-", secrets.normalise_code(code))


def invite(session: Session, practice: PracticeView, entry: RosterEntry, *, public_url: str, pepper: str) -> Sent:
    """Send (or resend) an invitation to the email on file; earlier links stop working."""
    if "invitation" not in practice.settings.paths:
        raise InvitationError("This practice does not register patients by invitation.")
    if not entry.email:
        raise InvitationError("The patient has no email address on file; give them a security code instead.")
    moment = now()
    session.execute(update(Invitation).where(Invitation.entry_id == entry.id, Invitation.used_at.is_(None),
                                             Invitation.voided_at.is_(None)).values(voided_at=moment))
    token, code = secrets.new_token(), secrets.new_readable_code()
    days = practice.settings.invitation_days
    invitation = Invitation(id=str(uuid.uuid4()), practice_id=practice.id, entry_id=entry.id,
                            token_digest=secrets.token_digest(token), code_digest=code_digest(pepper, code),
                            created_at=moment, expires_at=moment + timedelta(days=days))
    session.add(invitation)
    link = f"{public_url.rstrip('/')}/invite/{token}"
    request_notification(session, outbox, channel="email", recipient={"email": entry.email},
                         template="invitation",
                         variables={"first_name": entry.given_name, "practice_name": practice.name, "link": link,
                                    "activation_code": code, "expires_days": days},
                         expires_at=invitation.expires_at)
    session.flush()
    return Sent(invitation, link, code)


def _usable(invitation: Invitation | None, moment: datetime) -> Invitation | None:
    if invitation is None or invitation.used_at or invitation.voided_at or aware(invitation.expires_at) <= moment:
        return None
    return invitation


def by_token(session: Session, token: str) -> Invitation | None:
    """A usable invitation for a link token, else None (unknown, used, voided and expired alike)."""
    if not token or len(token) > 100:
        return None
    found = session.scalar(select(Invitation).where(Invitation.token_digest == secrets.token_digest(token)))
    return _usable(found, now())


def by_code(session: Session, practice_id: str, code: str, *, pepper: str) -> Invitation | None:
    normalised = secrets.normalise_code(code)
    if not 8 <= len(normalised) <= 20:
        return None
    found = session.scalar(select(Invitation).where(Invitation.code_digest == code_digest(pepper, normalised),
                                                    Invitation.practice_id == practice_id))
    return _usable(found, now())


def mark_used(session: Session, invitation_id: str) -> None:
    session.execute(update(Invitation).where(Invitation.id == invitation_id, Invitation.used_at.is_(None))
                    .values(used_at=now()))


def pending_for(session: Session, entry_id: int) -> Invitation | None:
    found = session.scalars(select(Invitation).where(Invitation.entry_id == entry_id)
                            .order_by(Invitation.created_at.desc())).first()
    return _usable(found, now())


def describe(invitation: Invitation) -> dict:
    moment = now()
    status = ("used" if invitation.used_at else "voided" if invitation.voided_at
              else "expired" if aware(invitation.expires_at) <= moment else "pending")
    return {"id": invitation.id, "practice_id": invitation.practice_id, "entry_id": invitation.entry_id,
            "status": status, "created_at": invitation.created_at.isoformat(),
            "expires_at": aware(invitation.expires_at).isoformat()}
