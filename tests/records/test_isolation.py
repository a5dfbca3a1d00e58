"""Patient A can never read B's data: not by changing ids, not with patient=/subject=, not through
_include, not with a tampered or borrowed paging link, not with another practice's token."""
from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from services.demo.charts import standard_chart
from tests.records.conftest import bearer, born, ids, store


@pytest.fixture
def two_patients(records_db, practices, charts, people, tokens):
    practice = practices.new()
    a = charts.new(practice, given="Alice")
    b = standard_chart(practice, f"{a.patient_id}-b", given="Bob", family="Other", birth_date=born(50))
    b.prescription("lisinopril", "2025-06-30", "1 tablet daily")  # a medication only B takes
    store(records_db, b)
    token_a = tokens.issue(people.new((practice, a.patient_id, "self")), practice)
    token_b = tokens.issue(people.new((practice, b.patient_id, "self")), practice)
    return practice, a, b, token_a, token_b


def without_reference(response) -> tuple:
    outcome = response.json
    text = re.sub(r" \(reference [0-9a-f]+\)", "", outcome["issue"][0]["diagnostics"])
    return response.status_code, outcome["issue"][0]["code"], text


def assert_nothing_of(chart, response) -> None:
    """Nothing of *chart* in the answer (a self link may echo what the caller itself asked)."""
    body = json.dumps({k: v for k, v in response.json.items() if k != "link"})
    assert chart.patient_id not in body and chart.given not in body and chart.family not in body


def test_reading_anothers_resource_by_id_is_the_same_404_as_one_that_does_not_exist(records, two_patients):
    _practice, _a, b, token_a, _ = two_patients
    missing = without_reference(records.get("/Observation/no-such-observation", headers=bearer(token_a)))
    assert missing[0] == 404
    for resource, _shared in b.entries:
        kind, rid = resource["resourceType"], resource["id"]
        if kind == "Medication" and rid != "med-lisinopril":
            continue  # medications A also takes are A's to read
        response = records.get(f"/{kind}/{rid}", headers=bearer(token_a))
        assert response.status_code == 404, (kind, rid)
        assert without_reference(response) == (404, "not-found", missing[2]), (kind, rid)
        assert_nothing_of(b, response)


def test_one_resource_type_asked_for_as_another_is_not_found(records, two_patients):
    _practice, a, _b, token_a, _ = two_patients
    observation = next(r for r, _ in a.entries if r["resourceType"] == "Observation")
    assert records.get(f"/Observation/{observation['id']}", headers=bearer(token_a)).status_code == 200
    assert records.get(f"/Condition/{observation['id']}", headers=bearer(token_a)).status_code == 404


@pytest.mark.parametrize("query", [
    "patient={b}", "subject={b}", "subject=Patient/{b}", "patient:Patient={b}",
    "patient=https://fhir.example/Patient/{b}", "patient={a},{b}", "patient={a}&patient={b}",
])
def test_search_parameters_cannot_point_at_another_patient(records, two_patients, query):
    _practice, a, b, token_a, _ = two_patients
    for kind in ("Observation", "Condition", "AuditEvent", "MedicationRequest"):
        response = records.get(f"/{kind}?{query.format(a=a.patient_id, b=b.patient_id)}", headers=bearer(token_a))
        assert response.status_code == 403, (kind, query)
        assert response.json["resourceType"] == "OperationOutcome" and "entry" not in response.json
        assert_nothing_of(b, response)


def test_naming_oneself_is_allowed_and_patient_search_finds_only_oneself(records, two_patients):
    _practice, a, b, token_a, _ = two_patients
    own = records.get(f"/Observation?patient={a.patient_id}", headers=bearer(token_a))
    assert own.status_code == 200 and own.json["total"] > 0
    for query in (f"_id={b.patient_id}", f"name={b.given}", f"identifier={b.patient_id.upper()}", ""):
        found = records.get(f"/Patient?{query}", headers=bearer(token_a))
        assert found.status_code == 200 and ids(found.json) <= {a.patient_id}, query
        assert_nothing_of(b, found)


def test_include_brings_only_ones_own_medications(records, two_patients):
    _practice, a, b, token_a, token_b = two_patients
    mine = records.get("/MedicationRequest?_include=MedicationRequest:medication", headers=bearer(token_a)).json
    assert ids(mine, "Medication") == {"med-albuterol", "med-cetirizine"}
    assert {e["search"]["mode"] for e in mine["entry"] if e["resource"]["resourceType"] == "Medication"} == {"include"}
    theirs = records.get("/MedicationRequest?_include=MedicationRequest:medication", headers=bearer(token_b)).json
    assert "med-lisinopril" in ids(theirs, "Medication")
    assert records.get("/Medication/med-lisinopril", headers=bearer(token_a)).status_code == 404
    assert records.get("/Medication/med-albuterol", headers=bearer(token_a)).status_code == 200
    for include in ("MedicationRequest:subject", "Observation:subject", "*", "MedicationRequest:patient"):
        response = records.get(f"/MedicationRequest?_include={include}", headers=bearer(token_a))
        assert response.status_code == 400, include
    assert records.get("/Observation?_revinclude=Provenance:target", headers=bearer(token_a)).status_code == 400


def next_link(bundle: dict) -> str:
    url = next(link["url"] for link in bundle["link"] if link["relation"] == "next")
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_paging_links_carry_nothing_readable_and_open_only_for_their_token(records, two_patients):
    _practice, a, b, token_a, token_b = two_patients
    first = records.get("/Observation?_count=2", headers=bearer(token_a)).json
    link = next_link(first)
    assert set(parse_qs(urlsplit(link).query)) == {"_cursor"}
    assert a.patient_id not in link and "Observation?" in link
    second = records.get(link, headers=bearer(token_a))
    assert second.status_code == 200 and not ids(first) & ids(second.json)
    borrowed = records.get(link, headers=bearer(token_b))
    assert borrowed.status_code == 400 and "entry" not in borrowed.json
    assert_nothing_of(a, borrowed)
    cursor = parse_qs(urlsplit(link).query)["_cursor"][0]
    for tampered in (cursor[:-3] + "AAA", cursor[::-1], cursor + "A"):
        assert records.get(f"/Observation?_cursor={tampered}", headers=bearer(token_a)).status_code == 400
    assert records.get(f"/Condition?_cursor={cursor}", headers=bearer(token_a)).status_code == 400
    assert records.get(f"/all/Observation?_cursor={cursor}", headers=bearer(token_a)).status_code == 400
    widened = records.get(f"/Observation?_cursor={cursor}&patient={b.patient_id}", headers=bearer(token_a))
    assert widened.status_code == 400


def test_another_practices_token_reads_nothing_here(records, practices, charts, people, tokens, two_patients):
    practice, a, _b, _token_a, _ = two_patients
    elsewhere = practices.new()
    namesake = people.new((elsewhere, a.patient_id, "self"))  # the same patient id, at another practice
    token = tokens.issue(namesake, elsewhere)
    assert records.get(f"/Patient/{a.patient_id}", headers=bearer(token)).status_code == 404
    assert records.get("/Observation", headers=bearer(token)).status_code == 404
    everywhere = records.get("/all/Observation", headers=bearer(token))
    assert everywhere.status_code == 200 and everywhere.json["total"] == 0
    assert_nothing_of(a, everywhere)


def test_a_token_whose_links_no_longer_vouch_for_its_patient_reads_nothing(records, two_patients, identity_app):
    from tests.records.test_tokens import resign
    _practice, a, b, token_a, _ = two_patients
    switched = resign(identity_app, token_a, patient=b.patient_id)  # patient claim changed, links not
    assert records.get(f"/Patient/{b.patient_id}", headers=bearer(switched)).status_code == 403
    assert records.get(f"/Patient/{a.patient_id}", headers=bearer(switched)).status_code == 403


def test_ids_in_a_token_that_are_not_fhir_ids_open_nothing(records, two_patients, identity_app):
    from tests.records.test_tokens import resign
    practice, a, _b, token_a, _ = two_patients
    odd = f"../Patient/{a.patient_id}"
    tampered = resign(identity_app, token_a, patient=odd,
                      links=[{"practice": practice, "patient": odd, "relationship": "self"}])
    assert records.get(f"/Patient/{a.patient_id}", headers=bearer(tampered)).status_code == 403
    assert records.get("/all/Patient", headers=bearer(tampered)).json["total"] == 0
