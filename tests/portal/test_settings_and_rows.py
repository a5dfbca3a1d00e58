"""The portal's settings (checked at start-up) and how FHIR resources read on the dashboard."""
from __future__ import annotations

from datetime import date

import pytest

from examples.portal import fhir
from examples.portal.settings import PortalSettings, SettingsError, contrast_with_white
from services.demo.charts import standard_chart

BASE = {"PORTAL_PRACTICE_ID": "riverside", "PORTAL_CLIENT_ID": "c", "PORTAL_CLIENT_SECRET": "s",
        "PORTAL_DATABASE_URL": "sqlite://"}


@pytest.mark.parametrize("overrides, variable", [
    ({"PORTAL_PRACTICE_ID": ""}, "PORTAL_PRACTICE_ID"),
    ({"PORTAL_CLIENT_SECRET": ""}, "PORTAL_CLIENT_SECRET"),
    ({"PORT": "http"}, "PORT"),
    ({"PORTAL_SECRET_KEY": "short"}, "PORTAL_SECRET_KEY"),
    ({"PORTAL_ACCENT": "#ffff00"}, "PORTAL_ACCENT"),          # too light for white text
    ({"PORTAL_ACCENT": "green"}, "PORTAL_ACCENT"),
    ({"PORTAL_PRACTICE_NAMES": "[1]"}, "PORTAL_PRACTICE_NAMES"),
    ({"PORTAL_ISSUER": "ftp://carekey"}, "PORTAL_ISSUER"),
])
def test_bad_settings_stop_the_portal_naming_the_variable(overrides, variable):
    with pytest.raises(SettingsError, match=variable):
        PortalSettings.from_env({**BASE, **overrides})


def test_outside_dev_https_and_a_cookie_key_are_required():
    production = {**BASE, "CAREKEY_ENV": "prod", "PORTAL_PUBLIC_URL": "https://portal.riverside.example",
                  "PORTAL_ISSUER": "https://id.carekey.example", "PORTAL_RECORDS_URL": "https://records.example",
                  "PORTAL_REGISTRATION_URL": "https://register.example"}
    with pytest.raises(SettingsError, match="PORTAL_SECRET_KEY"):
        PortalSettings.from_env(production)
    with pytest.raises(SettingsError, match="PORTAL_ISSUER"):
        PortalSettings.from_env({**production, "PORTAL_SECRET_KEY": "k" * 40, "PORTAL_ISSUER": "http://id.example"})
    settings = PortalSettings.from_env({**production, "PORTAL_SECRET_KEY": "k" * 40})
    assert settings.secure_cookies and not settings.is_dev


def test_dev_defaults_point_at_the_local_suite():
    settings = PortalSettings.from_env(BASE)
    assert (settings.issuer, settings.records_url, settings.registration_url, settings.port) == (
        "http://127.0.0.1:8001", "http://127.0.0.1:8004", "http://127.0.0.1:8002", 8101)
    assert settings.practice_name("riverside") == "Riverside" and settings.practice_name("north-side") == "North Side"


def test_accent_contrast_is_computed_as_wcag_does():
    assert round(contrast_with_white("#000000"), 1) == 21.0
    assert round(contrast_with_white("#767676"), 1) == 4.5


def rows_of(chart):
    found = {}
    for resource, _shared in chart.entries:
        tagged = {**resource, "meta": {"tag": [{"system": fhir.PRACTICE_TAG, "code": chart.practice}]}}
        row = fhir.row(tagged, {(chart.practice, "med-albuterol"): {"code": {"text": "albuterol inhaler"}}})
        if row is not None:
            found.setdefault(row.kind, []).append(row)
    return found


def test_every_type_on_the_dashboard_reads_as_a_titled_dated_row_of_its_practice_and_patient():
    today = date(2026, 3, 1)
    chart = standard_chart("riverside", "rv-1", given="Mia", family="Rivera", birth_date=date(2019, 3, 2), today=today)
    rows = rows_of(chart)
    assert set(rows) == {"Condition", "MedicationRequest", "Immunization", "AllergyIntolerance", "Procedure",
                         "CarePlan", "Observation", "DiagnosticReport", "Appointment"}
    assert all(r.practice == "riverside" and r.patient == "rv-1" for kind in rows.values() for r in kind)
    asthma = next(r for r in rows["Condition"] if r.title == "Asthma")
    assert (asthma.detail, asthma.status) == ("Since Apr 2, 2019", "Active")
    albuterol = next(r for r in rows["MedicationRequest"] if "puffs" in r.detail)
    assert albuterol.title == "albuterol inhaler"  # the included Medication names it, over the display
    allergy = rows["AllergyIntolerance"][0]
    assert (allergy.title, allergy.detail) == ("Allergy to penicillin", "Reaction: Hives")
    hemoglobin = next(r for r in rows["Observation"] if r.title.startswith("Hemoglobin"))
    assert hemoglobin.detail == "13.6 g/dL" and hemoglobin.when == "Sep 14, 2025"
    pressure = next(r for r in rows["Observation"] if r.title == "Blood pressure panel")
    assert pressure.detail == "Systolic blood pressure: 118 mm[Hg]; Diastolic blood pressure: 76 mm[Hg]"
    upcoming = next(r for r in rows["Appointment"] if r.status == "Upcoming")
    assert upcoming.title == "Annual physical" and upcoming.detail == "Mar 22, 2026 at 9:30 AM UTC"


def test_a_medication_named_only_by_reference_takes_the_included_medications_name():
    request = {"resourceType": "MedicationRequest", "status": "active", "subject": {"reference": "Patient/p"},
               "medicationReference": {"reference": "Medication/m1"},
               "meta": {"tag": [{"system": fhir.PRACTICE_TAG, "code": "hillside"}]}}
    row = fhir.row(request, {("hillside", "m1"): {"code": {"coding": [{"display": "metformin 500 MG"}]}}})
    assert row.title == "metformin 500 MG" and row.practice == "hillside" and row.patient == "p"
    assert fhir.row({"resourceType": "DocumentReference"}) is None  # notes are not on this dashboard


@pytest.mark.parametrize("value, shown", [("2025-09-14", "Sep 14, 2025"), ("2025-09-14T11:00:00Z", "Sep 14, 2025"),
                                          ("2025-09", "Sep 2025"), ("2025", "2025"), ("", ""), ("garbage", "garbage")])
def test_dates_read_as_people_write_them(value, shown):
    assert fhir.human_date(value) == shown


def test_the_portal_reads_exactly_the_variables_it_lists():
    from examples.portal.settings import VARIABLES

    class Recording(dict):
        def __init__(self, values):
            super().__init__(values)
            self.asked = set()

        def get(self, key, default=None):
            self.asked.add(key)
            return super().get(key, default)

        def __getitem__(self, key):
            self.asked.add(key)
            return super().__getitem__(key)

    environ = Recording({**BASE, "PORTAL_ISSUER_INTERNAL_URL": "http://identity:8001"})
    PortalSettings.from_env(environ)
    assert environ.asked == set(VARIABLES)
