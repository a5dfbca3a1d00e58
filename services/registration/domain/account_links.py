"""Our own record of which CareKey account a roster entry is linked to, and how (identity holds the
link itself; this lets registration find existing accounts and audit proxies without asking it)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.registration.db.models import AccountLink
from services.registration.domain.time import now


def upsert(session: Session, entry_id: int, account_id: str, *, relationship: str, proxy_kind: str | None = None,
           valid_until: datetime | None = None) -> AccountLink:
    link = session.scalar(select(AccountLink).where(AccountLink.entry_id == entry_id,
                                                    AccountLink.account_id == account_id))
    if link is None:
        link = AccountLink(entry_id=entry_id, account_id=account_id, created_at=now())
        session.add(link)
    link.relationship, link.proxy_kind, link.valid_until = relationship, proxy_kind, valid_until
    session.flush()
    return link
