"""Search parameters, FHIR date prefixes, paging cursors and the cache: pure, no I/O."""
from __future__ import annotations

import base64

import pytest

from services.records.domain import dates, search
from services.records.domain.cache import TtlCache
from services.records.domain.cursor import CursorCodec
from services.records.domain.resources import TYPES, belongs_to
from services.records.errors import InvalidCursor, InvalidParameter, NotSupported

OBSERVATION = TYPES["Observation"]
LAB = {"resourceType": "Observation", "id": "o1", "status": "final", "subject": {"reference": "Patient/p1"},
       "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                 "code": "laboratory"}]}],
       "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
       "effectiveDateTime": "2025-09-14T11:00:00Z"}


def criteria(query: str, kind=OBSERVATION):
    pairs = [tuple(p.split("=", 1)) for p in query.split("&") if p]
    return search.parse(kind, pairs)[0]


@pytest.mark.parametrize("query, matched", [
    ("", True),
    ("category=laboratory", True), ("category=vital-signs", False), ("category=vital-signs,laboratory", True),
    ("category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory", True),
    ("category=http://other|laboratory", False), ("category=|laboratory", False),
    ("code=http://loinc.org|718-7", True), ("code=http://loinc.org|", True), ("code=2345-7", False),
    ("date=2025-09-14", True), ("date=2025-09", True), ("date=2025", True), ("date=2025-09-15", False),
    ("date=ge2025-09-14", True), ("date=ge2025-09-15", False), ("date=gt2025-09-13", True),
    ("date=gt2025-09-14", False), ("date=le2025-09-14", True), ("date=le2025-09-13", False),
    ("date=lt2025-09-15", True), ("date=lt2025-09-14", False), ("date=ne2025-09-14", False),
    ("date=ge2025-01-01&date=le2025-12-31", True), ("date=ge2025-01-01&date=le2025-06-30", False),
    ("date=ge2025-09-14T06:00:00-05:00", True), ("date=ge2025-09-14T07:00:01-05:00", False),
    ("status=final&category=laboratory", True), ("status=preliminary&category=laboratory", False),
])
def test_observation_search_parameters(query, matched):
    assert search.matches(LAB, OBSERVATION, criteria(query)) is matched


@pytest.mark.parametrize("query, error", [
    ("date=yesterday", InvalidParameter), ("date=xx2025", InvalidParameter), ("date=2025-13-01", InvalidParameter),
    ("color=blue", InvalidParameter), ("_revinclude=Provenance:target", NotSupported),
    ("_include=Observation:subject", NotSupported), ("code:text=blood", NotSupported),
    ("subject.name=Lee", NotSupported), ("_count=5&_count=6", InvalidParameter), ("category=", InvalidParameter),
    ("patient=Group/1", InvalidParameter), ("_elements=id", NotSupported),
])
def test_bad_parameters_are_refused_not_ignored(query, error):
    with pytest.raises(error):
        criteria(query)


def test_patient_and_subject_name_patients_in_every_spelling():
    found = criteria("patient=p1&subject=Patient/p2&subject:Patient=https://x.example/fhir/Patient/p3")
    assert found.patients == ("p1", "p2", "p3")


def test_patient_has_no_patient_parameter_of_its_own():
    with pytest.raises(InvalidParameter):
        criteria("patient=p1", TYPES["Patient"])


def test_normalised_query_is_order_independent():
    assert criteria("status=final&category=laboratory").query() == criteria("category=laboratory&status=final").query()


@pytest.mark.parametrize("text, start, end", [
    ("2025", "2025-01-01T00:00:00+00:00", "2026-01-01T00:00:00+00:00"),
    ("2025-12", "2025-12-01T00:00:00+00:00", "2026-01-01T00:00:00+00:00"),
    ("2025-02-28", "2025-02-28T00:00:00+00:00", "2025-03-01T00:00:00+00:00"),
    ("2025-02-28T23:30", "2025-02-28T23:30:00+00:00", "2025-02-28T23:31:00+00:00"),
    ("2025-02-28T23:30:05+02:00", "2025-02-28T21:30:05+00:00", "2025-02-28T21:30:06+00:00"),
])
def test_dates_are_ranges_at_their_precision(text, start, end):
    found = dates.parse_range(text)
    assert (found.start.isoformat(), found.end.isoformat()) == (start, end)


def test_an_open_period_reaches_forever():
    (found,) = dates.ranges_of({"start": "2025-09-14"})
    assert found.end.year == 9999


@pytest.mark.parametrize("resource, patient, belongs", [
    (LAB, "p1", True), (LAB, "p2", False),
    ({**LAB, "subject": {"reference": "https://fhir.example/r4/Patient/p1"}}, "p1", True),
    ({**LAB, "subject": {"reference": "Group/p1"}}, "p1", False),
    ({**LAB, "subject": {"display": "p1"}}, "p1", False),
    ({**LAB, "resourceType": "Condition"}, "p1", False),
])
def test_compartment_membership_is_by_reference_only(resource, patient, belongs):
    assert belongs_to(resource, "Observation", patient) is belongs


def test_an_appointment_with_two_patients_belongs_to_neither():
    appointment = {"resourceType": "Appointment", "participant": [{"actor": {"reference": "Patient/a"}},
                                                                  {"actor": {"reference": "Patient/b"}}]}
    assert not belongs_to(appointment, "Appointment", "a") and not belongs_to(appointment, "Appointment", "b")


def test_cursors_are_opaque_and_refuse_any_change():
    codec = CursorCodec("a" * 40)
    sealed = codec.seal({"pt": "patient-rv-1001", "o": 20})
    raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
    assert b"patient" not in raw and "patient" not in sealed and codec.open(sealed)["pt"] == "patient-rv-1001"
    for tampered in (sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1], sealed[5:], "", "x" * 5000):
        with pytest.raises(InvalidCursor):
            codec.open(tampered)
    with pytest.raises(InvalidCursor):
        CursorCodec("b" * 40).open(sealed)


def test_cursors_expire():
    clock = [1000.0]
    codec = CursorCodec("a" * 40, ttl=60, clock=lambda: clock[0])
    sealed = codec.seal({"o": 1})
    clock[0] += 61
    with pytest.raises(InvalidCursor):
        codec.open(sealed)


def test_cache_entries_are_per_patient_short_lived_and_copied():
    clock = [0.0]
    cache, loads = TtlCache(5, clock=lambda: clock[0]), []

    def load(value):
        loads.append(value)
        return [{"id": value}]

    first = cache.get_or_load("pr", "p1", ("Observation",), lambda: load("p1"))
    first[0]["id"] = "changed by a caller"
    assert cache.get_or_load("pr", "p1", ("Observation",), lambda: load("again")) == [{"id": "p1"}]
    assert cache.get_or_load("pr", "p2", ("Observation",), lambda: load("p2")) == [{"id": "p2"}]
    clock[0] = 6
    assert cache.get_or_load("pr", "p1", ("Observation",), lambda: load("p1 later")) == [{"id": "p1 later"}]
    assert loads == ["p1", "p2", "p1 later"]


def test_a_zero_lifetime_turns_the_cache_off():
    cache, loads = TtlCache(0), []
    for _ in range(2):
        cache.get_or_load("pr", "p1", ("x",), lambda: loads.append(1))
    assert len(loads) == 2
