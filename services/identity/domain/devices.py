"""Known devices: a new one triggers a security email; a remembered one skips the second factor
for 30 days until the patient forgets it. The cookie carries a random device id, signed."""
from __future__ import annotations

import secrets
from datetime import timedelta

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.identity.db.models import Account, Device, outbox
from services.identity.domain import secrets as digests
from services.identity.domain.time import aware, now
from shared.messaging.notifications import request_notification

COOKIE = "carekey_device"
REMEMBER_FOR = timedelta(days=30)


class DeviceCookies:
    def __init__(self, secret_key: str) -> None:
        self.serializer = URLSafeSerializer(secret_key, salt="carekey-device")

    def read(self, value: str | None) -> str | None:
        try:
            return self.serializer.loads(value)["d"] if value else None
        except (BadSignature, KeyError, TypeError):
            return None

    def new(self) -> tuple[str, str]:
        device_id = secrets.token_urlsafe(24)
        return device_id, self.serializer.dumps({"d": device_id})


def seen(session: Session, account: Account, device_id: str, user_agent: str | None) -> bool:
    """Record a sign-in from *device_id*; returns True (and emails the patient) when it is new."""
    key = digests.digest(f"{account.id}:{device_id}")
    device = session.get(Device, key)
    moment = now()
    if device is not None:
        device.last_seen_at = moment
        return False
    session.add(Device(id=key, account_id=account.id, user_agent=(user_agent or "")[:300], first_seen_at=moment,
                       last_seen_at=moment))
    if account.email:
        request_notification(session, outbox, channel="email", recipient={"email": account.email},
                             template="security_alert",
                             variables={"event": "new_sign_in", "when": moment.strftime("%d %b %Y %H:%M UTC"),
                                        "device": (user_agent or "a browser")[:60]})
    return True


def remember(session: Session, account_id: str, device_id: str) -> None:
    device = session.get(Device, digests.digest(f"{account_id}:{device_id}"))
    if device is not None:
        device.remembered_until = now() + REMEMBER_FOR


def is_remembered(session: Session, account_id: str, device_id: str | None) -> bool:
    if not device_id:
        return False
    device = session.get(Device, digests.digest(f"{account_id}:{device_id}"))
    return device is not None and device.remembered_until is not None and aware(device.remembered_until) > now()


def list_for(session: Session, account_id: str) -> list[Device]:
    return list(session.scalars(select(Device).where(Device.account_id == account_id)
                                .order_by(Device.last_seen_at.desc())))


def forget(session: Session, account_id: str, device_key: str) -> None:
    device = session.get(Device, device_key)
    if device is not None and device.account_id == account_id:
        device.remembered_until = None
