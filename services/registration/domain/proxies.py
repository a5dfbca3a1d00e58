"""Guardians and other proxies (seeds 001, 002). Every patient has their own account; a proxy acts for
a patient only when the practice grants it, by a proxy code it issues or by approving a request,
under the practice's age rules:

* a child under ``full_access_under`` (12): a parent or guardian gets access until that birthday;
* a teen from 12 to ``teen_until`` (18): only when the teen's agreement is on file, until 18;
* an adult: only with the patient's agreement, for ``adult_proxy_days`` (365), then it lapses.

The records gateway applies its own age rules again at every read; who acts for whom is audited.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.registration.db.models import OfficeCode, ProxyRequest, RosterEntry, outbox
from services.registration.domain import account_links, audit, matching, office_codes, roster, throttle
from services.registration.domain.practices import PracticeView, ProxyRules
from services.registration.domain.time import now
from services.registration.interfaces import IdentityAccounts
from shared.messaging.notifications import request_notification

# outcomes
GRANTED, REFUSED, NOT_FOUND = "granted", "refused", "not_found"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    kind: str                      # child | teen | adult
    valid_until: datetime | None
    reason: str = ""


def age_on(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def _birthday(birth: date, age: int) -> datetime:
    year = birth.year + age
    day = birth.replace(year=year) if not (birth.month == 2 and birth.day == 29) else date(year, 3, 1)
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


def decide(rules: ProxyRules, birth: date | None, *, patient_agreed: bool, today: date | None = None) -> Decision:
    """May a proxy be granted for a patient born on *birth*, and until when (pure)."""
    if birth is None:
        return Decision(False, "unknown", None, "The patient's date of birth isn't on file, so the age rules "
                                                "can't be applied; add it to the roster first.")
    today = today or now().date()
    age = age_on(birth, today)
    if age < rules.full_access_under:
        return Decision(True, "child", _birthday(birth, rules.full_access_under))
    if age < rules.teen_until:
        if not patient_agreed:
            return Decision(False, "teen", None, "A teen's records are shared only with their agreement.")
        return Decision(True, "teen", _birthday(birth, rules.teen_until))
    if not patient_agreed:
        return Decision(False, "adult", None, "An adult's records are shared only with their agreement.")
    return Decision(True, "adult", datetime.combine(today, time.min, tzinfo=timezone.utc)
                    + timedelta(days=rules.adult_proxy_days))


@dataclass(frozen=True)
class Grant:
    entry: RosterEntry
    decision: Decision
    relationship: str


def redeem_code(session: Session, practice: PracticeView, account_id: str, code: str, birth_date: date | None, *,
                pepper: str, ip: str | None) -> tuple[str, Grant | None]:
    """A proxy code plus the patient's date of birth (both must fit). NOT_FOUND covers every wrong
    answer alike; REFUSED means the code is real but the age rules do not allow access now."""
    if not throttle.hit(session, throttle.CODE_ENTRY_PER_IP, ip):
        audit.record(session, "proxy_code", "throttled", practice_id=practice.id, account_id=account_id, ip=ip)
        return NOT_FOUND, None
    found: OfficeCode | None = office_codes.find(session, practice.id, "proxy", code, pepper=pepper)
    entry = session.get(RosterEntry, found.entry_id) if found else None
    if entry is None or birth_date is None or entry.birth_date != birth_date:
        audit.record(session, "proxy_code", "wrong", practice_id=practice.id, account_id=account_id, ip=ip)
        return NOT_FOUND, None
    decision = decide(practice.settings.proxy, entry.birth_date, patient_agreed=found.patient_agreed)
    if not decision.allowed:
        audit.record(session, "proxy_code", "refused", practice_id=practice.id, entry_id=entry.id,
                     account_id=account_id, ip=ip, kind=decision.kind)
        return REFUSED, Grant(entry, decision, found.relationship or "other")
    if not office_codes.consume(session, found):
        return NOT_FOUND, None
    audit.record(session, "proxy_code", "granted", practice_id=practice.id, entry_id=entry.id,
                 account_id=account_id, ip=ip, kind=decision.kind, relationship=found.relationship)
    return GRANTED, Grant(entry, decision, found.relationship or "other")


def grant(session: Session, identity: IdentityAccounts, practice: PracticeView, account_id: str, granted: Grant, *,
          actor: str = "patient", ip: str | None = None) -> None:
    """Link the account to the patient as a proxy at identity and here, audit who acts for whom, and
    tell the proxy by email. Identity is called first: if it fails, nothing here is written."""
    entry, decision = granted.entry, granted.decision
    identity.link(account_id, practice_id=practice.id, patient_id=entry.mrn, relationship="proxy",
                  display_name=f"{entry.given_name} {entry.family_name}", valid_until=decision.valid_until)
    account_links.upsert(session, entry.id, account_id, relationship="proxy", proxy_kind=granted.relationship,
                         valid_until=decision.valid_until)
    audit.record(session, "proxy", "linked", practice_id=practice.id, entry_id=entry.id, account_id=account_id,
                 actor=actor, ip=ip, kind=decision.kind, relationship=granted.relationship,
                 valid_until=decision.valid_until.isoformat() if decision.valid_until else None)
    email = (identity.account(account_id) or {}).get("email")
    if email:
        until = decision.valid_until.date().isoformat() if decision.valid_until else None
        request_notification(session, outbox, channel="email", recipient={"email": email}, template="proxy_granted",
                             variables={"practice_name": practice.name, "patient_first_name": entry.given_name,
                                        **({"until": until} if until else {})})


def request_access(session: Session, practice: PracticeView, account_id: str, requester_name: str,
                   patient: matching.Person, relationship: str, *, thresholds: matching.Thresholds,
                   ip: str | None) -> ProxyRequest:
    """Ask the practice for access; the answer to the person is the same whether or not anyone matched."""
    within = throttle.hit(session, throttle.IDENTIFY_PER_IP, ip)
    ranked = roster.search(session, practice.id, patient, thresholds, limit=2) if within else []
    # the practice reviews every request, so a name and date of birth (probable) are enough to show it
    # the chart; two people who fit (twins) show none
    likely = [entry for entry, match in ranked if match.grade in ("certain", "probable")]
    entry_id = likely[0].id if len(likely) == 1 else None
    request = ProxyRequest(id=str(uuid.uuid4()), practice_id=practice.id, account_id=account_id,
                           requester_name=requester_name[:200], entry_id=entry_id, relationship=relationship,
                           status="pending", created_at=now())
    session.add(request)
    audit.record(session, "proxy_request", "received" if entry_id else "no_match", practice_id=practice.id,
                 entry_id=entry_id, account_id=account_id, ip=ip, relationship=relationship)
    session.flush()
    return request


def pending(session: Session, practice_id: str) -> list[ProxyRequest]:
    return list(session.scalars(select(ProxyRequest).where(ProxyRequest.practice_id == practice_id,
                                                           ProxyRequest.status == "pending")
                                .order_by(ProxyRequest.created_at)))


def describe_request(request: ProxyRequest, entry: RosterEntry | None) -> dict:
    return {"id": request.id, "status": request.status, "requester_name": request.requester_name,
            "relationship": request.relationship, "account_id": request.account_id,
            "patient": {"mrn": entry.mrn, "name": f"{entry.given_name} {entry.family_name}",
                        "birth_date": entry.birth_date.isoformat() if entry.birth_date else None} if entry else None,
            "created_at": request.created_at.isoformat()}
