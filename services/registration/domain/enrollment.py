"""One person's way from "who are you?" to a linked record, at one practice.

    identify ──(certain/probable match)──► prove ──(PIN | code | security code)──► proven ──► done
       │ no match: a generic message, try again              │ 5 wrong answers: locked
       └ 5 tries: locked                                      └ codes: 10 minutes, single use

The link or the demographics only find a *candidate* record; they never prove identity. Proof is the
office PIN, a 6-digit code sent to the contact details on file for that record (text, voice or email),
or the office's security code. A "probable" match may be proven only by the phone on file, which the
person must also type ("Verify by phone number", seed 001). Only a proven enrollment is linked.

Nothing here says whether a person is a patient: no match, an ambiguous match (twins) and a throttled
attempt all answer ``NO_MATCH``; a code is "sent" whether or not a contact is on file.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.registration.db.models import AccountLink, Enrollment, RosterEntry, outbox
from services.registration.domain import (account_links, audit, invitations, matching, roster, secrets,
                                          throttle)
from services.registration.domain.practices import PracticeView
from services.registration.domain.time import aware, now
from shared.messaging.notifications import request_notification

LIFETIME = timedelta(minutes=30)
CODE_LIFETIME = timedelta(minutes=10)
MAX_IDENTIFY = 5
MAX_PROOF_ATTEMPTS = 5
MAX_SENDS = 4            # the first code and three resends
PATHS = ("invitation", "signup", "security_code", "connect", "proxy")

# identify outcomes
MATCHED, NO_MATCH, LOCKED = "matched", "no_match", "locked"
# proof outcomes
PROVEN, WRONG, EXPIRED, SENT, NOT_ALLOWED, TOO_MANY_SENDS = "proven", "wrong", "expired", "sent", "not_allowed", "too_many_sends"


@dataclass(frozen=True)
class Context:
    """What the domain needs from the caller, beyond the database session."""
    pepper: str
    ip: str | None


def start(session: Session, practice: PracticeView, path: str, *, invitation_id: str | None = None,
          entry_id: int | None = None, account_id: str | None = None) -> Enrollment:
    if path not in PATHS:
        raise ValueError(f"unknown path {path!r}")
    moment = now()
    enrollment = Enrollment(id=str(uuid.uuid4()), practice_id=practice.id, path=path, stage="identify",
                            invitation_id=invitation_id, entry_id=entry_id, account_id=account_id,
                            identify_attempts=0, proof_attempts=0, code_sends=0, created_at=moment,
                            expires_at=moment + LIFETIME)
    session.add(enrollment)
    session.flush()
    return enrollment


def load(session: Session, enrollment_id: str | None) -> Enrollment | None:
    """A live enrollment (not expired), or None."""
    if not enrollment_id:
        return None
    found = session.get(Enrollment, enrollment_id)
    if found is None or aware(found.expires_at) <= now():
        return None
    return found


def thresholds(practice: PracticeView) -> matching.Thresholds:
    s, base = practice.settings, matching.Thresholds()
    return matching.Thresholds(certain=s.certain_threshold or base.certain,
                               probable=s.probable_threshold or base.probable,
                               possible=s.possible_threshold or base.possible)


def _best(session: Session, enrollment: Enrollment, practice: PracticeView,
          query: matching.Person) -> tuple[RosterEntry | None, matching.Match | None]:
    limits = thresholds(practice)
    if enrollment.path in ("invitation", "security_code") and enrollment.entry_id:
        entry = session.get(RosterEntry, enrollment.entry_id)
        if entry is None:
            return None, None
        return entry, matching.compare(query, roster.person(entry), limits, roster.model(session, practice.id))
    ranked = roster.search(session, practice.id, query, limits, limit=2)
    if not ranked:
        return None, None
    top, runner_up = ranked[0][1].grade, ranked[1][1].grade if len(ranked) > 1 else None
    if runner_up is not None and (runner_up == top or runner_up == "certain"):
        return None, None  # two people fit equally well (twins, a parent and child of one name): never guess
    return ranked[0]


def identify(session: Session, enrollment: Enrollment, practice: PracticeView, query: matching.Person,
             ctx: Context) -> str:
    """Find the candidate record; MATCHED moves on to proof, anything else is one generic answer."""
    if enrollment.stage == "locked":
        return LOCKED
    enrollment.identify_attempts += 1
    within_ip = throttle.hit(session, throttle.IDENTIFY_PER_IP, ctx.ip)
    entry, match = _best(session, enrollment, practice, query)
    grade = match.grade if match else "certainly-not"
    # charge a record either way, so a near miss costs the same as no patient at all
    subject = entry.id if entry else f"none:{query.family}:{query.birth_date}"
    within_record = throttle.hit(session, throttle.IDENTIFY_PER_RECORD, subject)
    matched = within_ip and within_record and grade in ("certain", "probable")
    audit.record(session, "identify", "matched" if matched else "throttled" if not (within_ip and within_record)
                 else "no_match", practice_id=practice.id, entry_id=entry.id if matched else None, ip=ctx.ip,
                 path=enrollment.path, grade=grade if matched else None)
    if matched:
        enrollment.entry_id, enrollment.grade, enrollment.stage = entry.id, grade, "prove"
        return MATCHED
    if enrollment.path not in ("invitation", "security_code"):
        enrollment.entry_id = None
    if enrollment.identify_attempts >= MAX_IDENTIFY:
        enrollment.stage = "locked"
        return LOCKED
    return NO_MATCH


def proof_methods(enrollment: Enrollment, practice: PracticeView) -> list[str]:
    """What the person may use to prove identity at this point (the same list for everyone at a grade)."""
    channels = [c for c in ("sms", "voice", "email") if c in practice.settings.code_channels]
    if enrollment.grade == "probable":
        return [c for c in channels if c in ("sms", "voice")]
    return channels + (["pin"] if practice.settings.office_pin else [])


def _entry(session: Session, enrollment: Enrollment) -> RosterEntry | None:
    return session.get(RosterEntry, enrollment.entry_id) if enrollment.entry_id else None


def send_code(session: Session, enrollment: Enrollment, practice: PracticeView, channel: str, ctx: Context, *,
              typed_phone: str = "") -> str:
    """Send a fresh 6-digit code to the record's contact for *channel*. A resend replaces the code but
    keeps the attempt count; the number of sends is limited per enrollment, record and IP."""
    if enrollment.stage != "prove" or channel not in proof_methods(enrollment, practice):
        return NOT_ALLOWED
    if enrollment.code_sends >= MAX_SENDS:
        return TOO_MANY_SENDS
    entry = _entry(session, enrollment)
    if not (throttle.hit(session, throttle.SENDS_PER_IP, ctx.ip)
            and throttle.hit(session, throttle.SENDS_PER_RECORD, entry.id if entry else None)):
        audit.record(session, "code_send", "throttled", practice_id=practice.id, ip=ctx.ip, channel=channel)
        return TOO_MANY_SENDS
    enrollment.code_sends += 1
    code = secrets.new_digits(6)
    enrollment.code_digest = secrets.keyed_digest(ctx.pepper, "enrollment-code", enrollment.id, code)
    enrollment.code_channel = channel
    enrollment.code_expires_at = now() + CODE_LIFETIME
    address = _address(entry, channel)
    if enrollment.grade == "probable" and matching.normalise_phone(typed_phone) != matching.normalise_phone(address or ""):
        address = None  # probable: only to the phone on file, and only when the person knows it
    if address:
        recipient = {"email": address} if channel == "email" else {"phone": address}
        request_notification(session, outbox, channel=channel, recipient=recipient, template="safe_health_code",
                             variables={"code": code, "minutes": int(CODE_LIFETIME.total_seconds() // 60),
                                        "practice_name": practice.name},
                             expires_at=enrollment.code_expires_at)
    audit.record(session, "code_send", "sent" if address else "no_contact", practice_id=practice.id,
                 entry_id=enrollment.entry_id, ip=ctx.ip, channel=channel, sends=enrollment.code_sends)
    return SENT


def _address(entry: RosterEntry | None, channel: str) -> str | None:
    if entry is None:
        return None
    if channel == "email":
        return entry.email or None
    digits = matching.normalise_phone(entry.phone or "")
    return f"+1{digits}" if len(digits) == 10 else None


def _fail(session: Session, enrollment: Enrollment, practice: PracticeView, ctx: Context, method: str) -> str:
    enrollment.proof_attempts += 1
    throttle.hit(session, throttle.PROOF_FAILURES_PER_RECORD, enrollment.entry_id)
    audit.record(session, "prove", "wrong", practice_id=practice.id, entry_id=enrollment.entry_id, ip=ctx.ip,
                 method=method, attempts=enrollment.proof_attempts)
    if enrollment.proof_attempts >= MAX_PROOF_ATTEMPTS:
        enrollment.stage, enrollment.code_digest = "locked", None
        audit.record(session, "prove", "locked", practice_id=practice.id, entry_id=enrollment.entry_id, ip=ctx.ip)
        return LOCKED
    return WRONG


def _proven(session: Session, enrollment: Enrollment, practice: PracticeView, ctx: Context, method: str) -> str:
    enrollment.stage, enrollment.proven_by, enrollment.proven_at = "proven", method, now()
    enrollment.code_digest = None
    enrollment.expires_at = now() + LIFETIME  # time to choose a username and password
    audit.record(session, "prove", "proven", practice_id=practice.id, entry_id=enrollment.entry_id, ip=ctx.ip,
                 method=method)
    return PROVEN


def _record_locked(session: Session, enrollment: Enrollment) -> bool:
    """Too many failed proofs against this record today, across all enrollments."""
    if enrollment.entry_id is None:
        return False
    return throttle.exhausted(session, throttle.PROOF_FAILURES_PER_RECORD, enrollment.entry_id)


def check_code(session: Session, enrollment: Enrollment, practice: PracticeView, code: str, ctx: Context) -> str:
    if enrollment.stage == "locked":
        return LOCKED
    if enrollment.stage != "prove":
        return NOT_ALLOWED
    if _record_locked(session, enrollment) or not throttle.hit(session, throttle.CODE_ENTRY_PER_IP, ctx.ip):
        return _fail(session, enrollment, practice, ctx, "code")
    typed = "".join(ch for ch in code if ch.isdigit())
    given = secrets.keyed_digest(ctx.pepper, "enrollment-code", enrollment.id, typed)
    expected = enrollment.code_digest if enrollment.code_expires_at and aware(enrollment.code_expires_at) > now() else None
    if len(typed) == 6 and secrets.same(given, expected) and enrollment.entry_id:
        return _proven(session, enrollment, practice, ctx, enrollment.code_channel or "code")
    if enrollment.code_digest and not expected:
        enrollment.proof_attempts += 1
        return EXPIRED
    return _fail(session, enrollment, practice, ctx, "code")


def check_pin(session: Session, enrollment: Enrollment, practice: PracticeView, pin: str, ctx: Context) -> str:
    if enrollment.stage == "locked":
        return LOCKED
    if enrollment.stage != "prove" or "pin" not in proof_methods(enrollment, practice):
        return NOT_ALLOWED
    if _record_locked(session, enrollment) or not throttle.hit(session, throttle.CODE_ENTRY_PER_IP, ctx.ip):
        return _fail(session, enrollment, practice, ctx, "pin")
    entry = _entry(session, enrollment)
    given = roster.pin_digest(ctx.pepper, practice.id, pin)
    if entry is not None and secrets.same(given, entry.pin_digest):
        return _proven(session, enrollment, practice, ctx, "pin")
    return _fail(session, enrollment, practice, ctx, "pin")


def prove_with_office_code(session: Session, enrollment: Enrollment, practice: PracticeView, entry_id: int,
                           ctx: Context) -> str:
    """The office's security code already named the record; the person's details matched it."""
    if enrollment.stage != "prove" or enrollment.entry_id != entry_id:
        return NOT_ALLOWED
    return _proven(session, enrollment, practice, ctx, "security_code")


def existing_account(session: Session, enrollment: Enrollment, practice: PracticeView) -> str | None:
    """The CareKey account this proven person already has, found through records linked before: this
    record itself, or another record (at any practice, a duplicate chart included) that is certainly the same
    person."""
    entry = _entry(session, enrollment)
    if entry is None:
        return None
    own = session.scalar(select(AccountLink.account_id).where(AccountLink.entry_id == entry.id,
                                                             AccountLink.relationship == "self"))
    if own:
        return own
    me = roster.person(entry)
    limits = thresholds(practice)
    linked = session.execute(
        select(AccountLink.account_id, RosterEntry).join(RosterEntry, RosterEntry.id == AccountLink.entry_id)
        .where(AccountLink.relationship == "self", RosterEntry.id != entry.id,
               RosterEntry.birth_date == entry.birth_date)).all()
    for account_id, other in linked:
        if matching.compare(me, roster.person(other), limits).grade == "certain":
            return account_id
    return None


def record_link(session: Session, enrollment: Enrollment, account_id: str, *, ctx: Context) -> AccountLink:
    """The proven person's own record is now linked to their account: the enrollment is done."""
    link = account_links.upsert(session, enrollment.entry_id, account_id, relationship="self")
    enrollment.stage, enrollment.account_id = "done", account_id
    if enrollment.invitation_id:
        invitations.mark_used(session, enrollment.invitation_id)
    audit.record(session, "link", "linked", practice_id=enrollment.practice_id, entry_id=enrollment.entry_id,
                 account_id=account_id, ip=ctx.ip, relationship="self")
    return link
