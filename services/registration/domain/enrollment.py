"""One person's way from "who are you?" to a linked record, at one practice.

    identify ──(everyone)──► prove ──(PIN | code | security code)──► proven ──► done
       ▲  │ 5 identifications:     │ 5 wrong answers: locked
       │  │ locked                 └ codes: 10 minutes, single use (see proof.py)
       └──┴── "change my details" ◄┘

Identification only finds a *candidate* record; it proves nothing, and it is not an oracle. Being a
patient of some practices is itself sensitive, so anyone who knows a name and a date of birth must not
learn from the pages whether that person is a patient. Every well-formed identification therefore goes
on to the same proof page, with the same choices, whoever the person is:

- a *certain* or *probable* match (the best roster entry, not tied with another) becomes the
  enrollment's candidate (``entry_id`` and its ``grade``);
- anything else (no match, a possible one, twins who both fit, a record identified too often this
  hour) is a *decoy*: ``grade`` stays None. Its proof steps answer exactly as a candidate's do, with
  the same limits, and nothing it is sent or types can ever prove it (proof.py).

A miss shows only as a code that never arrives and never works. The true outcome (matched with its
grade, no match, throttled) goes to the practice's audit trail, never to the person. What the person
may be told: too many identifications from one address (``throttle.Throttled``, the same for anyone),
or this enrollment locked.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.registration.db.models import AccountLink, Enrollment, RosterEntry
from services.registration.domain import account_links, audit, invitations, matching, roster, throttle
from services.registration.domain.practices import PracticeView
from services.registration.domain.time import aware, now

LIFETIME = timedelta(minutes=30)
MAX_IDENTIFY = 5
# identification and code requests are answered no sooner than this, whoever was found: the search
# does more for a name on the roster (measured: bench/registration_timing.py, bench/README.md)
STEADY_ANSWER_SECONDS = 0.1
PATHS = ("invitation", "signup", "security_code", "connect", "proxy")
NAMED_RECORD_PATHS = ("invitation", "security_code")  # entry_id names the one record the person may be
CANDIDATE_GRADES = (matching.CERTAIN, matching.PROBABLE)

# outcomes
PROVE, IDENTIFY, LOCKED, NOT_ALLOWED = "prove", "identify", "locked", "not_allowed"


@dataclass(frozen=True)
class Context:
    """What the domain needs from the caller, beyond the database session."""
    pepper: str
    ip: str | None


def start(session: Session, practice: PracticeView, path: str, *, invitation_id: str | None = None,
          entry_id: int | None = None, account_id: str | None = None) -> Enrollment:
    """A new enrollment; *entry_id* is the record an invitation or office security code names (the person
    is checked against that record only)."""
    if path not in PATHS:
        raise ValueError(f"unknown path {path!r}")
    moment = now()
    enrollment = Enrollment(id=str(uuid.uuid4()), practice_id=practice.id, path=path, stage="identify",
                            invitation_id=invitation_id, entry_id=entry_id, account_id=account_id,
                            identify_attempts=0, proof_attempts=0, code_sends=0, code_withheld=False,
                            created_at=moment, expires_at=moment + LIFETIME)
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


def seconds_left(enrollment: Enrollment) -> int:
    """Until the enrollment expires and the person may start again (a locked one's Retry-After)."""
    return max(1, int((aware(enrollment.expires_at) - now()).total_seconds()))


def thresholds(practice: PracticeView) -> matching.Thresholds:
    s, base = practice.settings, matching.Thresholds()
    return matching.Thresholds(certain=s.certain_threshold or base.certain,
                               probable=s.probable_threshold or base.probable,
                               possible=s.possible_threshold or base.possible)


def is_candidate(enrollment: Enrollment) -> bool:
    """Did identification find someone (not a decoy)? Then ``entry_id`` is that record."""
    return enrollment.grade in CANDIDATE_GRADES and enrollment.entry_id is not None


def _best(session: Session, enrollment: Enrollment, practice: PracticeView,
          query: matching.Person) -> tuple[RosterEntry | None, matching.Match | None]:
    limits = thresholds(practice)
    if enrollment.path in NAMED_RECORD_PATHS:
        entry = session.get(RosterEntry, enrollment.entry_id) if enrollment.entry_id else None
        if entry is None:
            return None, None
        return entry, matching.compare(query, roster.person(entry), limits, roster.model(session, practice.id))
    ranked = roster.search(session, practice.id, query, limits, limit=2)
    if not ranked:
        return None, None
    top, runner_up = ranked[0][1].grade, ranked[1][1].grade if len(ranked) > 1 else None
    if runner_up is not None and (runner_up == top or runner_up == matching.CERTAIN):
        return None, None  # two people fit equally well (twins, a parent and child of one name): never guess
    return ranked[0]


def identify(session: Session, enrollment: Enrollment, practice: PracticeView, query: matching.Person,
             ctx: Context) -> str:
    """Find the candidate record, or make the enrollment a decoy; PROVE either way (LOCKED after
    MAX_IDENTIFY identifications). Raises throttle.Throttled when the address tried too often."""
    if enrollment.stage == "locked" or enrollment.identify_attempts >= MAX_IDENTIFY:
        enrollment.stage = "locked"
        return LOCKED
    try:
        throttle.require(session, throttle.IDENTIFY_PER_IP, ctx.ip)
    except throttle.Throttled:
        audit.record(session, "identify", "throttled", practice_id=practice.id, ip=ctx.ip, path=enrollment.path,
                     limit="ip")
        raise
    enrollment.identify_attempts += 1
    entry, match = _best(session, enrollment, practice, query)
    grade = match.grade if match else matching.CERTAINLY_NOT
    # a record is charged whoever asks; a decoy charges its own enrollment, the same work
    within_record = throttle.hit(session, throttle.IDENTIFY_PER_RECORD, entry.id if entry else f"decoy:{enrollment.id}")
    found = entry if within_record and grade in CANDIDATE_GRADES else None
    audit.record(session, "identify", "matched" if found else "no_match" if within_record else "throttled",
                 practice_id=practice.id, entry_id=found.id if found else None, ip=ctx.ip, path=enrollment.path,
                 grade=grade if found else None)
    if enrollment.path not in NAMED_RECORD_PATHS:
        enrollment.entry_id = found.id if found else None
    enrollment.grade = grade if found else None
    enrollment.stage = "prove"
    return PROVE


def change_details(session: Session, enrollment: Enrollment) -> str:
    """The proof page's "change the details I entered": back to identification, for anyone alike (the
    attempts, sends and wrong answers so far still count). An office security code is one try."""
    if enrollment.stage != "prove" or enrollment.path == "security_code":
        return NOT_ALLOWED
    if enrollment.identify_attempts >= MAX_IDENTIFY:
        enrollment.stage = "locked"
        return LOCKED
    enrollment.stage, enrollment.grade = "identify", None
    if enrollment.path not in NAMED_RECORD_PATHS:
        enrollment.entry_id = None
    enrollment.code_digest, enrollment.code_channel, enrollment.code_withheld = None, None, False
    return IDENTIFY


def existing_account(session: Session, enrollment: Enrollment, practice: PracticeView) -> str | None:
    """The CareKey account this proven person already has, found through records linked before: this
    record itself, or another record (at any practice, a duplicate chart included) that is certainly the same
    person (which needs the date of birth on both)."""
    entry = session.get(RosterEntry, enrollment.entry_id) if enrollment.entry_id else None
    if entry is None:
        return None
    own = session.scalar(select(AccountLink.account_id).where(AccountLink.entry_id == entry.id,
                                                             AccountLink.relationship == "self"))
    if own or entry.birth_date is None:
        return own
    me = roster.person(entry)
    limits = thresholds(practice)
    linked = session.execute(
        select(AccountLink.account_id, RosterEntry).join(RosterEntry, RosterEntry.id == AccountLink.entry_id)
        .where(AccountLink.relationship == "self", RosterEntry.id != entry.id,
               RosterEntry.birth_date == entry.birth_date)).all()
    for account_id, other in linked:
        if matching.compare(me, roster.person(other), limits).grade == matching.CERTAIN:
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
