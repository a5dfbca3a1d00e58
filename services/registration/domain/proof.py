"""Proof: the office PIN, a 6-digit code sent to a contact on file (text, voice or email), or the
office's security code. Only a proven enrollment is ever linked.

Everyone identification sends here gets the same choices and the same answers, whether or not it
found a candidate (enrollment.py); what differs is only where a code goes and whether anything can
prove the enrollment:

====================  ===============================  ===================  ====================
                      a code by text or voice          a code by email      the office PIN
====================  ===============================  ===================  ====================
certain candidate     to the phone on file, when the   to the email on      the record's PIN
                      person typed that number         file
probable candidate    the same (seed 001's "Verify by  withheld             never proves
                      phone number")
no candidate (decoy)  withheld                         withheld             never proves
====================  ===============================  ===================  ====================

A *withheld* code is made, counted, limited and recorded exactly like a sent one: one outbox row that
is never published (``request_notification(recipient=None)``), and a digest of a random token instead
of the code, so nothing verifies it. The pages say a code went out "if this is the number your practice
has on file". A resend of a withheld code is withheld too (``code_withheld``).

Limits, the same for every enrollment: 4 sends (the first code and three resends, which replace the
code and keep the count) and 5 wrong answers, then locked; per address, sends (told: throttle.Throttled)
and code entries (past it every answer is wrong). Per record, sends in an hour and wrong answers in a
day, never told: past them a code is withheld or every answer is wrong, as for a decoy, which charges
its own enrollment instead. Each step does the same work either way: one record lookup, the throttle
charges, a digest, a constant-time comparison, an outbox row, an audit event (the true outcome, for the
practice only). Codes and PINs are kept only as keyed HMAC digests.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from services.registration.db.models import Enrollment, RosterEntry, outbox
from services.registration.domain import audit, matching, roster, secrets, throttle
from services.registration.domain.enrollment import LIFETIME, LOCKED, NOT_ALLOWED, Context, is_candidate
from services.registration.domain.practices import PracticeView
from services.registration.domain.time import aware, now
from shared.messaging.notifications import request_notification

CODE_LIFETIME = timedelta(minutes=10)
MAX_PROOF_ATTEMPTS = 5
MAX_SENDS = 4            # the first code and three resends
PHONE_CHANNELS = ("sms", "voice")

PROVEN, WRONG, EXPIRED, SENT, TOO_MANY_SENDS = "proven", "wrong", "expired", "sent", "too_many_sends"


def methods(practice: PracticeView) -> list[str]:
    """The ways offered on the proof page: the practice's, the same for everyone."""
    channels = [c for c in ("sms", "voice", "email") if c in practice.settings.code_channels]
    return channels + (["pin"] if practice.settings.office_pin else [])


def _candidate(session: Session, enrollment: Enrollment) -> RosterEntry | None:
    """The candidate's record, None for a decoy: one primary-key lookup either way (0 is never an id)."""
    return session.get(RosterEntry, enrollment.entry_id if is_candidate(enrollment) else 0)


def _subject(enrollment: Enrollment) -> str:
    """Whose per-record limits an attempt charges: the candidate's record, or a decoy's own enrollment."""
    return str(enrollment.entry_id) if is_candidate(enrollment) else f"decoy:{enrollment.id}"


def _audit(session: Session, action: str, outcome: str, enrollment: Enrollment, ctx: Context, **details) -> None:
    candidate = is_candidate(enrollment)
    audit.record(session, action, outcome, practice_id=enrollment.practice_id,
                 entry_id=enrollment.entry_id if candidate else None, ip=ctx.ip,
                 **details, **({} if candidate else {"decoy": True}))


def _destination(entry: RosterEntry | None, grade: str | None, channel: str, typed_phone: str | None) -> tuple[
        str | None, str]:
    """(the address on file a code goes to, or None: withheld; why, for the audit). *typed_phone* None:
    the person already typed the number on file (a resend)."""
    if entry is None:
        return None, "no_candidate"
    if channel == "email":
        if grade != matching.CERTAIN:
            return None, "probable_proves_by_phone_only"
        return (entry.email or None), "sent" if entry.email else "no_email_on_file"
    on_file = matching.normalise_phone(entry.phone or "")
    if len(on_file) != 10:
        return None, "no_phone_on_file"
    if typed_phone is not None and matching.normalise_phone(typed_phone) != on_file:
        return None, "not_the_phone_on_file"
    return f"+1{on_file}", "sent"


def send_code(session: Session, enrollment: Enrollment, practice: PracticeView, channel: str, ctx: Context, *,
              typed_phone: str = "") -> str:
    """A fresh code by *channel* (SENT, whether it goes anywhere or is withheld). For text and voice the
    person types the phone number on file; the code goes there only when it is that number. Raises
    throttle.Throttled past the per-address limit on sends."""
    if enrollment.stage != "prove" or channel not in methods(practice):
        return NOT_ALLOWED
    entry = _candidate(session, enrollment)
    address, reason = _destination(entry, enrollment.grade, channel, typed_phone)
    return _issue(session, enrollment, practice, channel, address, reason, ctx)


def resend(session: Session, enrollment: Enrollment, practice: PracticeView, ctx: Context) -> str:
    """A new code the same way as the last (earlier codes stop working); a withheld one stays withheld."""
    if enrollment.stage != "prove" or enrollment.code_channel not in methods(practice):
        return NOT_ALLOWED
    entry = _candidate(session, enrollment)
    address, reason = ((None, "withheld_before") if enrollment.code_withheld
                       else _destination(entry, enrollment.grade, enrollment.code_channel, None))
    return _issue(session, enrollment, practice, enrollment.code_channel, address, reason, ctx)


def _issue(session: Session, enrollment: Enrollment, practice: PracticeView, channel: str, address: str | None,
           reason: str, ctx: Context) -> str:
    if enrollment.code_sends >= MAX_SENDS:
        return TOO_MANY_SENDS
    try:
        throttle.require(session, throttle.SENDS_PER_IP, ctx.ip)
    except throttle.Throttled:
        _audit(session, "code_send", "throttled", enrollment, ctx, channel=channel)
        raise
    enrollment.code_withheld = address is None
    if not throttle.hit(session, throttle.SENDS_PER_RECORD, _subject(enrollment)) and address:
        address, reason = None, "record_send_limit"  # this send only: the next may go again
    enrollment.code_sends += 1
    code = secrets.new_digits(6)
    enrollment.code_digest = secrets.keyed_digest(ctx.pepper, "enrollment-code", enrollment.id,
                                                  code if address else secrets.new_token())
    enrollment.code_channel, enrollment.code_expires_at = channel, now() + CODE_LIFETIME
    recipient = None if address is None else {"email": address} if channel == "email" else {"phone": address}
    request_notification(session, outbox, channel=channel, recipient=recipient, template="safe_health_code",
                         variables={"code": code, "minutes": int(CODE_LIFETIME.total_seconds() // 60),
                                    "practice_name": practice.name},
                         expires_at=enrollment.code_expires_at)
    _audit(session, "code_send", "sent" if address else "withheld", enrollment, ctx, channel=channel,
           sends=enrollment.code_sends, **({} if address else {"reason": reason}))
    return SENT


def _may_answer(session: Session, enrollment: Enrollment, ctx: Context) -> bool:
    """Within the per-address limit on code entry, and the record not locked by a day's wrong answers
    (charged and read for everyone; past either, every answer is wrong)."""
    within_ip = throttle.hit(session, throttle.CODE_ENTRY_PER_IP, ctx.ip)
    record_locked = throttle.exhausted(session, throttle.PROOF_FAILURES_PER_RECORD, _subject(enrollment))
    return bool(within_ip) and not record_locked


def _fail(session: Session, enrollment: Enrollment, ctx: Context, method: str) -> str:
    enrollment.proof_attempts += 1
    throttle.hit(session, throttle.PROOF_FAILURES_PER_RECORD, _subject(enrollment))
    _audit(session, "prove", "wrong", enrollment, ctx, method=method, attempts=enrollment.proof_attempts)
    if enrollment.proof_attempts >= MAX_PROOF_ATTEMPTS:
        enrollment.stage, enrollment.code_digest = "locked", None
        _audit(session, "prove", "locked", enrollment, ctx)
        return LOCKED
    return WRONG


def _proven(session: Session, enrollment: Enrollment, ctx: Context, method: str) -> str:
    enrollment.stage, enrollment.proven_by, enrollment.proven_at = "proven", method, now()
    enrollment.code_digest = None
    enrollment.expires_at = now() + LIFETIME  # time to choose a username and password
    _audit(session, "prove", "proven", enrollment, ctx, method=method)
    return PROVEN


def check_code(session: Session, enrollment: Enrollment, practice: PracticeView, code: str, ctx: Context) -> str:
    if enrollment.stage == "locked":
        return LOCKED
    if enrollment.stage != "prove":
        return NOT_ALLOWED
    allowed = _may_answer(session, enrollment, ctx)
    typed = "".join(ch for ch in code if ch.isdigit())
    given = secrets.keyed_digest(ctx.pepper, "enrollment-code", enrollment.id, typed)
    live = enrollment.code_expires_at is not None and aware(enrollment.code_expires_at) > now()
    right = secrets.same(given, enrollment.code_digest if live else None) and len(typed) == 6
    if allowed and right and is_candidate(enrollment):
        return _proven(session, enrollment, ctx, enrollment.code_channel or "code")
    if allowed and enrollment.code_digest and not live:
        enrollment.proof_attempts += 1
        return EXPIRED
    return _fail(session, enrollment, ctx, "code")


def check_pin(session: Session, enrollment: Enrollment, practice: PracticeView, pin: str, ctx: Context) -> str:
    """The office PIN proves a certain candidate only (a probable one proves by the phone on file)."""
    if enrollment.stage == "locked":
        return LOCKED
    if enrollment.stage != "prove" or "pin" not in methods(practice):
        return NOT_ALLOWED
    allowed = _may_answer(session, enrollment, ctx)
    entry = _candidate(session, enrollment)
    stored = entry.pin_digest if entry is not None and enrollment.grade == matching.CERTAIN else None
    if secrets.same(roster.pin_digest(ctx.pepper, practice.id, pin), stored) and allowed:
        return _proven(session, enrollment, ctx, "pin")
    return _fail(session, enrollment, ctx, "pin")


def prove_with_office_code(session: Session, enrollment: Enrollment, entry_id: int, ctx: Context) -> str:
    """The office's security code named the record (and was used up); the person's details fit it."""
    if enrollment.stage != "prove" or not is_candidate(enrollment) or enrollment.entry_id != entry_id:
        return NOT_ALLOWED
    return _proven(session, enrollment, ctx, "security_code")
