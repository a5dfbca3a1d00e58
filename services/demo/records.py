"""Demo data for `make run` (the embedded default): two practices, Riverside (notes on) and
Hillside (notes held back while it migrates), with adults, a child under 12 and teens with and
without consent to proxy access. Birth dates are set relative to today so the ages stay as described."""
from __future__ import annotations

from datetime import date

from flask import Flask

from services.demo.charts import Chart, standard_chart
from services.records.db.repositories import save_practice, set_teen_consent
from services.records.domain.policy import age_on
from services.records.sources.store import put
from shared.database import transaction

PRACTICES = {"riverside": ("Riverside Family Practice", True), "hillside": ("Hillside Medical Group", False)}

# practice, id, given, family, age, (month, day), gender, teen consent
PATIENTS = [
    ("riverside", "rv-1001", "Alex", "Rivera", 41, (6, 12), "male", False),
    ("riverside", "rv-1002", "Mia", "Rivera", 7, (3, 2), "female", False),
    ("riverside", "rv-1003", "Noah", "Rivera", 14, (9, 23), "male", False),
    ("riverside", "rv-1004", "Ava", "Chen", 16, (1, 30), "female", True),
    ("riverside", "rv-1005", "Eleanor", "Rivera", 78, (11, 5), "female", False),
    ("hillside", "hs-2001", "Alex", "Rivera", 41, (6, 12), "male", False),
    ("hillside", "hs-2002", "Sofia", "Patel", 45, (4, 18), "female", False),
    ("hillside", "hs-2003", "Liam", "Patel", 13, (8, 8), "male", False),
]


def _born(age: int, month: int, day: int, today: date) -> date:
    """A birthday that makes the patient *age* today."""
    birthday = date(today.year - age, month, min(day, 28))
    return birthday if (birthday.month, birthday.day) <= (today.month, today.day) else \
        birthday.replace(year=birthday.year - 1)


def charts(today: date | None = None) -> list[tuple[Chart, bool]]:
    today = today or date.today()
    built = []
    for practice, patient_id, given, family, age, (month, day), gender, consent in PATIENTS:
        chart = standard_chart(practice, patient_id, given=given, family=family, gender=gender,
                               birth_date=_born(age, month, day, today), today=today)
        if age >= 40:
            chart.condition("59621000", "Essential hypertension", "2016-02-11")
            chart.prescription("lisinopril", "2025-06-30", "1 tablet by mouth once daily")
            chart.lab("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", 5.9, "%", "2026-02-03T08:40:00Z",
                      shared=True)
        if age < 12:
            chart.prescription("amoxicillin", "2026-01-08", "5 mL by mouth twice daily for 10 days", "completed")
            chart.immunization("03", "MMR", f"{today.year - age + 1}-05-01")
        built.append((chart, consent))
    return built


def seed(app: Flask) -> list[str]:
    """Seed demo data idempotently; returns lines describing what exists."""
    today = date.today()
    lines = []
    with transaction(app.extensions["carekey.sessions"]) as session:
        for practice_id, (name, notes) in PRACTICES.items():
            save_practice(session, practice_id, name=name, notes_enabled=notes)
            lines.append(f"practice {practice_id} ({name}), clinical notes {'on' if notes else 'off'}")
        for chart, consent in charts(today):
            for resource, shared in chart.entries:
                put(session, chart.practice, resource, shared=shared)
            if consent:
                set_teen_consent(session, chart.practice, chart.patient_id, True)
            age = age_on(chart.birth_date, today)
            lines.append(f"patient {chart.practice}/{chart.patient_id} {chart.given} {chart.family}, age {age}"
                         f"{', teen consent on file' if consent else ''} ({len(chart.entries)} resources)")
    return lines
