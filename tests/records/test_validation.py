"""Everything the gateway serves validates against the FHIR R4B models of fhir.resources (the
R4-compatible model set): every resource type, searchsets, the CapabilityStatement, AuditEvents and
OperationOutcomes."""
from __future__ import annotations

import pytest
from fhir.resources.R4B import get_fhir_model_class

from services.demo import records as demo
from services.records.domain.resources import TYPES
from tests.records.conftest import bearer

SEARCHABLE = [name for name, kind in TYPES.items() if kind.searchable]


def validate(document: dict) -> None:
    get_fhir_model_class(document["resourceType"]).model_validate(document)


@pytest.fixture
def reader(records, reader):
    records.get(f"/Patient/{reader.chart.patient_id}", headers=bearer(reader.token))  # something for the audit log
    return reader


def test_every_type_validates_when_read_by_id(records, reader):
    _practice, chart, token = reader
    served = set()
    for resource, shared in chart.entries:
        response = records.get(f"/{resource['resourceType']}/{resource['id']}", headers=bearer(token))
        if shared is False:
            assert response.status_code == 404
            continue
        assert response.status_code == 200, (resource["resourceType"], resource["id"], response.json)
        validate(response.json)
        served.add(resource["resourceType"])
    assert served == set(TYPES) - {"AuditEvent"}


@pytest.mark.parametrize("resource_type", SEARCHABLE)
def test_every_searchset_validates(records, reader, resource_type):
    _practice, _chart, token = reader
    for url in (f"/{resource_type}?_count=2", f"/all/{resource_type}?_count=2"):
        bundle = records.get(url, headers=bearer(token))
        assert bundle.status_code == 200, bundle.json
        assert bundle.json["entry"], f"{url} served nothing to validate"
        validate(bundle.json)
        assert {e["resource"]["resourceType"] for e in bundle.json["entry"]} == {resource_type}


def test_included_medications_validate(records, reader):
    _practice, _chart, token = reader
    bundle = records.get("/MedicationRequest?_include=MedicationRequest:medication", headers=bearer(token)).json
    assert any(e["resource"]["resourceType"] == "Medication" for e in bundle["entry"])
    validate(bundle)


def test_the_capability_statement_validates_and_lists_every_type(records):
    response = records.get("/metadata")
    assert response.status_code == 200 and response.mimetype == "application/fhir+json"
    validate(response.json)
    statement = response.json
    assert statement["fhirVersion"] == "4.0.1" and statement["kind"] == "instance"
    listed = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert set(listed) == set(TYPES)
    assert listed["MedicationRequest"]["searchInclude"] == ["MedicationRequest:medication"]
    observation_params = {p["name"] for p in listed["Observation"]["searchParam"]}
    assert {"category", "code", "date", "patient", "_count"} <= observation_params
    assert statement["rest"][0]["security"]["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"


@pytest.mark.parametrize("url, status", [
    ("/Observation?date=yesterday", 400), ("/Observation?color=blue", 400), ("/Patient/x", 401),
    ("/Condition/no-such-thing", 404), ("/Observation?patient=someone-else", 403), ("/Foo", 400),
    ("/Observation?_cursor=garbage", 400), ("/Observation/x/_history", 404), ("/Medication", 400),
])
def test_every_error_is_a_valid_operation_outcome(records, reader, url, status):
    _practice, _chart, token = reader
    response = records.get(url, headers={} if status == 401 else bearer(token))
    assert response.status_code == status and response.mimetype == "application/fhir+json"
    validate(response.json)
    assert "Traceback" not in response.get_data(as_text=True)


def test_the_demo_charts_validate():
    resources = [resource for chart, _consent in demo.charts() for resource, _shared in chart.entries]
    for resource in resources:
        validate(resource)
    assert {r["resourceType"] for r in resources} == set(TYPES) - {"AuditEvent"}
