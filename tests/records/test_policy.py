"""The access policy, table by table: pure functions, no I/O."""
from __future__ import annotations

from datetime import date

import pytest

from services.records.domain import scopes
from services.records.domain.policy import (Link, PracticeRules, age_on, context_link, cross_practice_links,
                                            is_lab_result, is_note, may_act_for, visible)

TODAY = date(2026, 6, 15)
RULES = PracticeRules("riverside")


def years_ago(years: int, month: int = 6, day: int = 15) -> date:
    return date(TODAY.year - years, month, day)


@pytest.mark.parametrize("birth, age", [
    (date(2014, 6, 15), 12), (date(2014, 6, 16), 11), (date(2008, 6, 14), 18), (date(2008, 6, 16), 17),
    (date(2020, 2, 29), 6),
])
def test_age_counts_whole_years(birth, age):
    assert age_on(birth, TODAY) == age


@pytest.mark.parametrize("relationship, birth, teen_agreed, allowed, reason", [
    ("self", years_ago(40), False, True, "self"),
    ("self", years_ago(14), False, True, "self"),
    ("self", None, False, True, "self"),
    ("proxy", years_ago(0, 1, 1), False, True, "proxy for a child"),
    ("proxy", years_ago(11, 6, 16), False, True, "proxy for a child"),     # 11, turns 12 tomorrow
    ("proxy", years_ago(12), False, False, "proxy for a teen"),            # 12 today
    ("proxy", years_ago(12), True, True, "proxy for a teen who agreed"),
    ("proxy", years_ago(17, 6, 16), False, False, "proxy for a teen"),     # 17, turns 18 tomorrow
    ("proxy", years_ago(17, 6, 16), True, True, "proxy for a teen who agreed"),
    ("proxy", years_ago(18), False, True, "proxy for an adult, link valid"),
    ("proxy", years_ago(80), False, True, "proxy for an adult, link valid"),
    ("proxy", None, False, False, "proxy without a birth date on file"),
    ("proxy", date(2030, 1, 1), False, False, "proxy without a birth date on file"),
    ("guardian", years_ago(5), False, False, "unknown relationship"),
])
def test_proxy_access_follows_the_practices_age_rules(relationship, birth, teen_agreed, allowed, reason):
    decision = may_act_for(Link("riverside", "p1", relationship), RULES, birth_date=birth,
                           teen_agreed=teen_agreed, today=TODAY)
    assert (decision.allowed, decision.reason) == (allowed, reason)


@pytest.mark.parametrize("full_under, adult_at, age, allowed", [
    (12, 18, 13, False), (13, 18, 12, True), (13, 18, 13, False), (12, 16, 16, True), (0, 18, 5, False),
])
def test_each_practice_sets_its_own_ages(full_under, adult_at, age, allowed):
    rules = PracticeRules("p", proxy_full_under=full_under, adult_at=adult_at)
    decision = may_act_for(Link("p", "x", "proxy"), rules, birth_date=years_ago(age), teen_agreed=False, today=TODAY)
    assert decision.allowed is allowed


def test_no_link_or_another_practices_rules_allow_nothing():
    assert not may_act_for(None, RULES, birth_date=years_ago(40), teen_agreed=False, today=TODAY).allowed
    other = Link("hillside", "p1", "self")
    assert not may_act_for(other, RULES, birth_date=years_ago(40), teen_agreed=False, today=TODAY).allowed


LINKS = [Link("riverside", "rv-1", "self"), Link("riverside", "rv-2", "proxy"), Link("hillside", "hs-1", "self")]


@pytest.mark.parametrize("patient, practice, expected", [
    ("rv-1", "riverside", LINKS[0]), ("rv-2", "riverside", LINKS[1]), ("hs-1", "hillside", LINKS[2]),
    ("hs-1", "riverside", None),   # a patient of another practice is not this practice's patient
    ("rv-9", "riverside", None), (None, "riverside", None), ("rv-1", None, None),
])
def test_the_token_reads_its_context_only_when_its_links_vouch_for_it(patient, practice, expected):
    assert context_link(patient, practice, LINKS) == expected


def test_cross_practice_view_covers_self_and_proxy_links():
    assert cross_practice_links(LINKS + [Link("x", "y", "other")]) == LINKS


LAB = {"resourceType": "Observation", "category": [{"coding": [
    {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}]}
SHARED_TAG = {"meta": {"tag": [{"system": "https://carekey.example/release", "code": "shared"}]}}
VITAL = {"resourceType": "Observation", "category": [{"coding": [{"code": "vital-signs"}]}]}
LAB_REPORT = {"resourceType": "DiagnosticReport", "category": [{"coding": [{"code": "LAB"}]}]}
IMAGING = {"resourceType": "DiagnosticReport", "category": [{"coding": [{"code": "LP29684-5"}]}]}
NOTE = {"resourceType": "DocumentReference"}
CONDITION = {"resourceType": "Condition"}
NOTES_OFF = PracticeRules("riverside", notes_enabled=False)


@pytest.mark.parametrize("resource, rules, shown", [
    (LAB, RULES, False), ({**LAB, **SHARED_TAG}, RULES, True),
    (LAB_REPORT, RULES, False), ({**LAB_REPORT, **SHARED_TAG}, RULES, True),
    (VITAL, RULES, True), (VITAL, NOTES_OFF, True),
    (NOTE, RULES, True), (NOTE, NOTES_OFF, False),
    (IMAGING, RULES, True), (IMAGING, NOTES_OFF, False),
    (CONDITION, NOTES_OFF, True), ({**LAB, **SHARED_TAG}, NOTES_OFF, True),
    ({**LAB, "meta": {"tag": [{"system": "https://elsewhere.example/release", "code": "shared"}]}}, RULES, False),
])
def test_labs_only_when_released_and_notes_only_when_on(resource, rules, shown):
    assert visible(resource, rules) is shown


def test_what_counts_as_a_lab_result_and_a_note():
    assert is_lab_result(LAB) and is_lab_result(LAB_REPORT) and not is_lab_result(VITAL)
    assert is_note(NOTE) and is_note(IMAGING) and not is_note(LAB_REPORT)


OBS_LAB = {"resourceType": "Observation", "category": LAB["category"]}
OBS_VITAL = {"resourceType": "Observation", "category": [{"coding": [
    {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}]}


@pytest.mark.parametrize("scope, resource_type, action, allowed", [
    ("patient/*.rs", "Observation", "r", True), ("patient/*.rs", "AuditEvent", "s", True),
    ("patient/*.r", "Observation", "s", False), ("patient/*.s", "Observation", "s", True),
    ("patient/*.read", "Condition", "s", True), ("patient/*.*", "Condition", "r", True),
    ("patient/*.write", "Condition", "r", False), ("patient/*.cud", "Condition", "r", False),
    ("patient/Observation.rs", "Observation", "s", True), ("patient/Observation.rs", "Condition", "s", False),
    ("patient/MedicationRequest.rs", "Medication", "r", True),
    ("user/*.rs", "Observation", "s", False), ("system/*.rs", "Observation", "s", False),
    ("openid launch/patient", "Patient", "r", False), ("patient/*.sr", "Patient", "r", False),
    ("patient/observation.rs", "Observation", "s", False),
])
def test_smart_scopes_v2_and_v1(scope, resource_type, action, allowed):
    assert scopes.grant(scopes.parse(scope), resource_type, action).allowed is allowed


@pytest.mark.parametrize("scope, resource, admitted", [
    ("patient/Observation.rs?category=laboratory", OBS_LAB, True),
    ("patient/Observation.rs?category=laboratory", OBS_VITAL, False),
    ("patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory",
     OBS_LAB, True),
    ("patient/Observation.rs?category=http%3A%2F%2Fterminology.hl7.org%2FCodeSystem%2Fobservation-category"
     "%7Cvital-signs", OBS_VITAL, True),
    ("patient/Observation.rs?category=laboratory patient/Observation.rs?category=vital-signs", OBS_VITAL, True),
    ("patient/Observation.rs?category=laboratory patient/Observation.rs", OBS_VITAL, True),
])
def test_granular_scopes_admit_only_matching_resources(scope, resource, admitted):
    assert scopes.grant(scopes.parse(scope), "Observation", "s").admits(resource) is admitted


def test_a_granular_scope_with_an_unknown_parameter_grants_nothing():
    assert not scopes.grant(scopes.parse("patient/Observation.rs?nonsense=1"), "Observation", "s").allowed
