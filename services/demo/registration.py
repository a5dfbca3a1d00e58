"""Demo data for `make run` (the embedded default): Riverside and Hillside with rosters that match the
records demo (same MRNs, names and birthdays, relative to today), contact details whose texts and
emails land in the local outbox (http://127.0.0.1:8003/outbox), office PINs, and an invitation already
sent to Alex Rivera at Riverside."""
from __future__ import annotations

import os
from datetime import date

from flask import Flask

from services.registration.domain import invitations, practices, roster
from services.registration.domain.practices import PracticeSettings
from shared.database import transaction

PRACTICES = {"riverside": ("Riverside Family Practice", 8101), "hillside": ("Hillside Medical Group", 8102)}

# practice, mrn, given, family, age, (month, day), sex, zip, email, phone, PIN
PATIENTS = [
    ("riverside", "rv-1001", "Alex", "Rivera", 41, (6, 12), "male", "97201", "alex.rivera@example.org",
     "(555) 201-1001", "4321"),
    ("riverside", "rv-1002", "Mia", "Rivera", 7, (3, 2), "female", "97201", "alex.rivera@example.org",
     "(555) 201-1001", "1002"),
    ("riverside", "rv-1003", "Noah", "Rivera", 14, (9, 23), "male", "97201", "noah.rivera@example.org",
     "(555) 201-1003", "1003"),
    ("riverside", "rv-1004", "Ava", "Chen", 16, (1, 30), "female", "97204", "ava.chen@example.org",
     "(555) 201-1004", "1004"),
    ("riverside", "rv-1005", "Eleanor", "Rivera", 78, (11, 5), "female", "97201", "", "(555) 201-1005", "1005"),
    ("hillside", "hs-2001", "Alex", "Rivera", 41, (6, 12), "male", "97201", "alex.rivera@example.org",
     "(555) 201-1001", "2001"),
    ("hillside", "hs-2002", "Sofia", "Patel", 45, (4, 18), "female", "97210", "sofia.patel@example.org",
     "(555) 302-2002", "2002"),
    ("hillside", "hs-2003", "Liam", "Patel", 13, (8, 8), "male", "97210", "sofia.patel@example.org",
     "(555) 302-2002", "2003"),
]


def born(age: int, month: int, day: int, today: date) -> date:
    """A birthday that makes the patient *age* today (the records demo's rule)."""
    birthday = date(today.year - age, month, min(day, 28))
    return birthday if (birthday.month, birthday.day) <= (today.month, today.day) else \
        birthday.replace(year=birthday.year - 1)


def practice_settings(practice_id: str, port: int) -> PracticeSettings:
    port = int(os.environ.get(f"PORTAL_{practice_id.upper()}_PORT", port))
    return PracticeSettings(portal_url=f"http://127.0.0.1:{port}/login", portal_client_ids=(f"portal-{practice_id}",))


def seed(app: Flask) -> list[str]:
    """Seed demo data idempotently; returns lines describing what exists."""
    settings = app.extensions["carekey.settings"]
    today = date.today()
    lines = []
    with transaction(app.extensions["carekey.sessions"]) as session:
        for practice_id, (name, port) in PRACTICES.items():
            practices.save(session, practice_id, name=name, settings=practice_settings(practice_id, port))
        for practice_id, mrn, given, family, age, (month, day), sex, zip_, email, phone, pin in PATIENTS:
            birth = born(age, month, day, today)
            roster.upsert(session, practice_id, {"mrn": mrn, "given_name": given, "family_name": family,
                                                 "birth_date": birth, "sex": sex, "zip": zip_, "email": email,
                                                 "phone": phone, "pin": pin, "address": "100 Main St",
                                                 "city": "Portland", "state": "OR"}, pepper=settings.secret_key)
            lines.append(f"roster {practice_id}/{mrn}: {given} {family}, born {birth:%m/%d/%Y}, zip {zip_}, "
                         f"phone {phone}{', email ' + email if email else ''}, office PIN {pin}")
        for practice_id in PRACTICES:
            roster.refresh_model(session, practice_id)
        riverside = practices.get(session, "riverside")
        alex = roster.by_mrn(session, "riverside", "rv-1001")
        if invitations.pending_for(session, alex.id) is None:
            invitations.invite(session, riverside, alex, public_url=settings.public_url, pepper=settings.secret_key)
            lines.append("invitation emailed to Alex Rivera at Riverside (open the outbox to find it)")
    return lines


def walkthrough_patients(today: date | None = None) -> list[dict[str, str]]:
    """The demo patients as `make run`'s walk-through prints them (what the practices have on file)."""
    today = today or date.today()
    return [{"name": f"{given} {family}", "practice": PRACTICES[practice_id][0],
             "born": f"{born(age, month, day, today):%m/%d/%Y}", "zip": zip_, "phone": phone, "email": email,
             "office_PIN": pin}
            for practice_id, _mrn, given, family, age, (month, day), _sex, zip_, email, phone, pin in PATIENTS]


WALKTHROUGH_PATIENTS = walkthrough_patients()  # read by services/demo_portals.py
