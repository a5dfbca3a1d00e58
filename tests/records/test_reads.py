"""A patient reads their own records at the portal's practice: reads by id, US Core searches,
paging, and the HTTP details (content type, no caching, read-only, errors)."""
from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import urlsplit

import pytest

from tests.records.conftest import bearer, ids, of_type


def test_patient_reads_their_own_records(records, reader):
    practice, chart, token = reader
    response = records.get(f"/Patient/{chart.patient_id}", headers=bearer(token))
    assert response.status_code == 200, response.json
    assert response.mimetype == "application/fhir+json" and response.headers["Cache-Control"] == "no-store"
    assert response.json["id"] == chart.patient_id
    assert {"system": "https://carekey.example/practice", "code": practice} in response.json["meta"]["tag"]
    for kind in ("Condition", "Immunization", "AllergyIntolerance", "Procedure", "CarePlan", "Appointment",
                 "MedicationRequest"):
        bundle = records.get(f"/{kind}", headers=bearer(token)).json
        assert bundle["type"] == "searchset" and ids(bundle) == {r["id"] for r in of_type(chart, kind)}, kind
        assert all(e["fullUrl"].endswith(f"/{kind}/{e['resource']['id']}") for e in bundle["entry"])


OBS = "/Observation?category=vital-signs"


@pytest.mark.parametrize("query, expected", [
    ("date=2025-09-14", 2), ("date=ge2025-09-14", 2), ("date=gt2025-09-14", 0), ("date=lt2025-09-14", 0),
    ("date=le2025-09-14T10:05:00Z", 2), ("date=lt2025-09-14T10:05:00Z", 0), ("date=ge2025-01-01&date=lt2026-01-01", 2),
    ("code=http://loinc.org|85354-9", 1), ("code=29463-7", 1), ("code=29463-7,85354-9", 2), ("code=0000-0", 0),
    ("status=final", 2), ("status=cancelled", 0),
])
def test_observation_searches(records, reader, query, expected):
    _practice, _chart, token = reader
    bundle = records.get(f"{OBS}&{query}", headers=bearer(token)).json
    assert bundle["total"] == expected, query


def test_appointments_by_date_and_status(records, reader):
    _practice, chart, token = reader
    today = date.today().isoformat()
    upcoming = records.get(f"/Appointment?date=ge{today}&status=booked", headers=bearer(token)).json
    past = records.get(f"/Appointment?date=lt{today}", headers=bearer(token)).json
    assert upcoming["total"] == 1 and past["total"] == 1
    assert upcoming["entry"][0]["resource"]["status"] == "booked"
    assert records.get(f"/Appointment?date={(date.today() + timedelta(days=21)).isoformat()}",
                       headers=bearer(token)).json["total"] == 1


@pytest.mark.parametrize("url, expected", [
    ("/Condition?category=problem-list-item", 2), ("/Condition?clinical-status=active&code=195967001", 1),
    ("/Condition?onset-date=ge2020", 1), ("/MedicationRequest?status=active&intent=order", 2),
    ("/Immunization?date=2025", 1), ("/AllergyIntolerance?clinical-status=active", 1),
    ("/Procedure?code=80146002&date=2018-07", 1), ("/CarePlan?category=assess-plan&status=active", 1),
    ("/DiagnosticReport?category=LAB", 1), ("/DocumentReference?type=11506-3", 1), ("/Patient?gender=female", 1),
    ("/Patient?birthdate=le2000", 1), ("/Patient?name=lee", 1), ("/Patient?name=nobody", 0),
])
def test_us_core_search_parameters(records, reader, url, expected):
    _practice, _chart, token = reader
    response = records.get(url, headers=bearer(token))
    assert response.status_code == 200 and response.json["total"] == expected, (url, response.json)


def relative(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def links(bundle: dict) -> dict[str, str]:
    return {link["relation"]: relative(link["url"]) for link in bundle["link"]}


def test_paging_forward_and_back_newest_first(records, reader):
    _practice, chart, token = reader
    first = records.get("/Observation?_count=3", headers=bearer(token)).json
    total = first["total"]
    assert total == len(of_type(chart, "Observation")) - 1  # one lab result is not released
    pages, bundle = [first], first
    while "next" in links(bundle):
        bundle = records.get(links(bundle)["next"], headers=bearer(token)).json
        pages.append(bundle)
    seen = [e["resource"]["id"] for page in pages for e in page["entry"]]
    assert len(seen) == total == len(set(seen)) and len(pages) == -(-total // 3)
    back = records.get(links(pages[-1])["previous"], headers=bearer(token)).json
    assert ids(back) == ids(pages[-2]) and "previous" not in links(first)
    assert records.get(links(pages[1])["self"], headers=bearer(token)).json["entry"] == pages[1]["entry"]
    dates = [e["resource"]["effectiveDateTime"] for page in pages for e in page["entry"]]
    assert dates == sorted(dates, reverse=True)


@pytest.mark.parametrize("count", ["0", "101", "-1", "ten"])
def test_count_is_bounded(records, reader, count):
    assert records.get(f"/Observation?_count={count}", headers=bearer(reader[2])).status_code == 400


def test_the_gateway_is_read_only(records, reader):
    _practice, chart, token = reader
    for method in ("post", "put", "patch", "delete"):
        response = getattr(records, method)(f"/Patient/{chart.patient_id}", headers=bearer(token), json={})
        assert response.status_code == 405 and response.json["resourceType"] == "OperationOutcome", method


def test_fhir_json_only(records, reader):
    _practice, chart, token = reader
    url = f"/Patient/{chart.patient_id}"
    assert records.get(url, headers={**bearer(token), "Accept": "application/fhir+xml"}).status_code == 406
    assert records.get(f"{url}?_format=xml", headers=bearer(token)).status_code == 406
    for accept in ("application/fhir+json", "application/json", "*/*"):
        assert records.get(url, headers={**bearer(token), "Accept": accept}).status_code == 200
    assert records.get(f"{url}?_format=json", headers=bearer(token)).status_code == 200


def test_unsupported_types_and_paths(records, reader):
    token = reader[2]
    assert records.get("/Encounter", headers=bearer(token)).json["issue"][0]["code"] == "not-supported"
    assert records.get("/Medication", headers=bearer(token)).status_code == 400
    assert records.get("/Patient/$everything", headers=bearer(token)).status_code == 404
    assert records.get("/all/Observation/some-id", headers=bearer(token)).json["issue"][0]["code"] == "not-found"
    assert records.post("/all/Observation", headers=bearer(token)).status_code == 405
    assert records.get("/no/such/thing", headers={"Accept": "application/json"}).mimetype == "application/problem+json"


@pytest.mark.parametrize("url", ["/Condition?code=%00", "/Condition?_cursor=%00", "/AuditEvent?date=ge%00",
                                 "/all/Condition?patient=%00", "/metadata?_format=%00", "/Condition/c1?x=%00"])
def test_nul_characters_are_a_400_operation_outcome(records, reader, url):
    response = records.get(url, headers=bearer(reader.token))
    assert response.status_code == 400 and response.mimetype == "application/fhir+json"
    issue = response.json["issue"][0]
    assert issue["code"] == "invalid" and issue["diagnostics"].startswith("Text may not contain NUL characters.")


def test_nul_in_a_repeated_parameter_or_a_name_is_refused_too(records, reader):
    for url in ("/Observation?status=final&status=%00", "/Observation?%00=final"):
        response = records.get(url, headers=bearer(reader.token))
        assert response.status_code == 400 and response.json["issue"][0]["code"] == "invalid", url
