"""Proxies: full access for a child, none for a teen unless the teen agreed, an adult's only while
the link is valid — judged at read time from the patient's birth date and the practice's rules."""
from __future__ import annotations

import pytest

from services.records.db.repositories import save_practice, set_teen_consent
from shared.database import transaction
from tests.records.conftest import bearer, store
from tests.records.test_tokens import resign

KINDS = ("Patient", "Observation", "Condition", "MedicationRequest", "AuditEvent")


def reads(records, token: str, chart) -> set[int]:
    statuses = {records.get(f"/Patient/{chart.patient_id}", headers=bearer(token)).status_code}
    statuses |= {records.get(f"/{kind}", headers=bearer(token)).status_code for kind in KINDS}
    return statuses


@pytest.fixture
def family(practices, charts, people, tokens):
    """A parent at a practice who is also a proxy for the patient under test."""
    def make(age: int, *, teen_consent: bool = False, practice: str | None = None, birth_date=None):
        practice = practice or practices.new()
        parent = charts.new(practice, age=40, given="Parent")
        dependant = charts.new(practice, age=age, given="Dependant", teen_consent=teen_consent,
                               birth_date=birth_date)
        person = people.new((practice, parent.patient_id, "self"), (practice, dependant.patient_id, "proxy"))
        return practice, dependant, tokens.issue(person, practice, patient=dependant.patient_id)
    return make


@pytest.mark.parametrize("age, teen_consent, allowed", [
    (0, False, True), (7, False, True), (11, False, True),
    (12, False, False), (14, False, False), (17, False, False),
    (12, True, True), (16, True, True),
    (18, False, True), (70, False, True),
])
def test_proxy_access_by_age(records, family, age, teen_consent, allowed):
    _practice, dependant, token = family(age, teen_consent=teen_consent)
    assert reads(records, token, dependant) == ({200} if allowed else {403}), age


def test_a_teens_consent_counts_at_read_time_for_a_token_already_issued(records, family, records_db):
    practice, teen, token = family(15)
    assert reads(records, token, teen) == {403}
    with transaction(records_db) as session:
        set_teen_consent(session, practice, teen.patient_id, True)
    assert reads(records, token, teen) == {200}
    with transaction(records_db) as session:
        set_teen_consent(session, practice, teen.patient_id, False)
    assert reads(records, token, teen) == {403}


def test_a_refused_proxy_learns_nothing_about_the_teens_records(records, family):
    _practice, teen, token = family(14)
    for kind in KINDS:
        response = records.get(f"/{kind}", headers=bearer(token))
        assert response.status_code == 403 and "entry" not in response.json
    observation = next(r for r, _ in teen.entries if r["resourceType"] == "Observation")
    assert records.get(f"/Observation/{observation['id']}", headers=bearer(token)).status_code == 403


def test_each_practice_sets_its_own_ages(records, family, practices, records_db):
    practice = practices.new(proxy_full_under=10, adult_at=16)
    _p, child, token = family(11, practice=practice)
    assert reads(records, token, child) == {403}
    with transaction(records_db) as session:
        save_practice(session, practice, proxy_full_under=12)
    assert reads(records, token, child) == {200}


def test_no_birth_date_on_file_means_no_proxy_access(records, family, records_db):
    _practice, dependant, token = family(5)
    patient = next(r for r, _ in dependant.entries if r["resourceType"] == "Patient")
    patient.pop("birthDate")
    store(records_db, dependant)
    assert reads(records, token, dependant) == {403}


def test_an_adults_proxy_reads_only_while_identity_lists_the_link(records, family, identity_app):
    _practice, adult, token = family(70)
    assert reads(records, token, adult) == {200}
    lapsed = resign(identity_app, token, links=[])  # what a token issued after the link ended carries
    assert reads(records, lapsed, adult) == {403}

