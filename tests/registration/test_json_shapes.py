"""JSON of the wrong type anywhere in a roster Bundle or a $match Parameters resource, and JSON nested
thousands deep anywhere in the operator API, is refused clearly: a 400 or 422 naming the field."""
from __future__ import annotations

import copy
import json

import pytest

from services.registration.domain import match_queries
from tests.registration.conftest import unique_family

DEEP = "[" * 5000 + "]" * 5000


def _bundle(family: str) -> dict:
    return {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "ok-1", "name": [{"family": family, "given": ["Ann"]}],
                      "birthDate": "1980-01-01"}},
        {"resource": {"resourceType": "Patient", "id": "wrong-1",
                      "identifier": [{"type": {"coding": [{"code": "MR"}]}, "value": "wrong-1"}],
                      "name": [{"use": "official", "family": family, "given": ["Bo", "Q"]}], "birthDate": "1981-02-03",
                      "telecom": [{"system": "phone", "value": "555-555-0100"}],
                      "address": [{"use": "home", "line": ["1 Elm"], "postalCode": "97201"}]}}]}


def _put(document: dict, path: tuple, value) -> dict:
    changed = copy.deepcopy(document)
    node = changed
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return changed


@pytest.mark.parametrize("path, value, field", [
    (("entry", 1), 3, "_row"),
    (("entry", 1, "resource"), [], "resource"),
    (("entry", 1, "resource", "name"), "Bo", "resource.name"),
    (("entry", 1, "resource", "name", 0), "Bo", "resource.name[0]"),
    (("entry", 1, "resource", "name", 0, "given"), "Bo", "resource.name[0].given"),
    (("entry", 1, "resource", "name", 0, "given", 0), {"text": "Bo"}, "resource.name[0].given[0]"),
    (("entry", 1, "resource", "identifier"), 1, "resource.identifier"),
    (("entry", 1, "resource", "identifier", 0, "type"), "MR", "resource.identifier[0].type"),
    (("entry", 1, "resource", "identifier", 0, "type", "coding"), {"code": "MR"}, "resource.identifier[0].type.coding"),
    (("entry", 1, "resource", "identifier", 0, "value"), 42, "resource.identifier[0].value"),
    (("entry", 1, "resource", "telecom", 0), "555", "resource.telecom[0]"),
    (("entry", 1, "resource", "address", 0, "line"), "1 Elm", "resource.address[0].line"),
    (("entry", 1, "resource", "address", 0, "postalCode"), 97201, "resource.address[0].postalCode"),
    (("entry", 1, "resource", "birthDate"), 19810203, "resource.birthDate"),
    (("entry", 1, "resource", "gender"), True, "resource.gender"),
    (("entry", 1, "resource", "resourceType"), "Observation", "resource.resourceType"),
])
def test_a_wrong_type_in_a_roster_bundle_names_the_entry_and_field(operator, practice, path, value, field):
    response = operator.call("POST", f"/api/practices/{practice.id}/roster",
                             json=_put(_bundle(unique_family()), path, value))
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"] == "about:blank" and response.headers["Content-Type"] == "application/problem+json"
    assert [(p["row"], list(p["errors"])) for p in problem["problems"]] == [("entry 2", [field])]
    assert operator.call("GET", f"/api/practices/{practice.id}/roster/ok-1").status_code == 404  # nothing imported


def test_skipping_invalid_rows_imports_the_good_entries_and_names_the_wrong_type(operator, practice):
    bundle = _put(_bundle(unique_family()), ("entry", 1, "resource", "name", 0, "given"), "Bo")
    response = operator.call("POST", f"/api/practices/{practice.id}/roster?on_error=skip", json=bundle)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["created"], answer["rejected"]) == (1, [
        {"row": "entry 2", "mrn": None, "errors": {"resource.name[0].given": ["Not a valid list."]}}])
    assert operator.call("GET", f"/api/practices/{practice.id}/roster/ok-1").status_code == 200


@pytest.mark.parametrize("body, detail", [
    ({"resourceType": "Bundle", "entry": 5}, "entry: Not a valid list."),
    ({"resourceType": "Bundle", "entry": {"resource": {}}}, "entry: Not a valid list."),
])
def test_a_bundle_whose_entry_is_not_a_list_is_a_400(operator, practice, body, detail):
    response = operator.call("POST", f"/api/practices/{practice.id}/roster", json=body)
    assert response.status_code == 400 and response.json()["detail"] == detail


@pytest.mark.parametrize("body, errors", [
    ({"rows": 5}, {"rows": ["Not a valid list."]}),
    ({"rows": [{"mrn": "a"}, 5]}, {"rows": {"1": ["Not a valid mapping type."]}}),
])
def test_rows_of_the_wrong_type_are_a_400_naming_them(operator, practice, body, errors):
    response = operator.call("POST", f"/api/practices/{practice.id}/roster", json=body)
    assert response.status_code == 400 and response.json()["errors"] == errors


def _parameters() -> dict:
    return {"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": {"resourceType": "Patient", "name": [{"family": "Zed", "given": ["Ann"]}],
                                          "birthDate": "1980-01-01", "telecom": [{"system": "phone", "value": "5"}]}},
        {"name": "count", "valueInteger": 3}, {"name": "onlyCertainMatches", "valueBoolean": False}]}


@pytest.mark.parametrize("path, value, expression", [
    (("parameter",), 1, "parameter"),
    (("parameter", 0), "resource", "parameter[0]"),
    (("parameter", 0, "name"), 7, "parameter[0].name"),
    (("parameter", 0, "resource", "name"), "Zed", "parameter[0].resource.name"),
    (("parameter", 0, "resource", "name", 0, "given"), "Ann", "parameter[0].resource.name[0].given"),
    (("parameter", 0, "resource", "telecom", 0), 5, "parameter[0].resource.telecom[0]"),
    (("parameter", 0, "resource", "birthDate"), ["1980"], "parameter[0].resource.birthDate"),
    (("parameter", 1, "valueInteger"), "3", "parameter[1].valueInteger"),
    (("parameter", 2, "valueBoolean"), "no", "parameter[2].valueBoolean"),
])
def test_a_wrong_type_in_match_parameters_names_the_field(operator, practice, path, value, expression):
    response = operator.call("POST", f"/Patient/$match?practice={practice.id}",
                             json=_put(_parameters(), path, value))
    assert response.status_code == 400, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert [issue["expression"] for issue in outcome["issue"]] == [[expression]]
    assert outcome["issue"][0]["diagnostics"].startswith(f"{expression}: ")


def test_a_wrong_type_in_a_batch_entry_names_the_field_in_that_entrys_outcome(operator, practice):
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": _parameters()}, {"resource": _put(_parameters(), ("parameter", 1, "valueInteger"), "3")},
        {"resource": _put(_parameters(), ("parameter", 0, "resource", "name", 0, "given"), "Ann")}]}
    response = operator.call("POST", f"/Patient/$match?practice={practice.id}", json=batch)
    assert response.status_code == 200, response.text
    answers = response.json()["entry"]
    assert [a["response"]["status"] for a in answers] == ["200 OK", "400 Bad Request", "400 Bad Request"]
    assert [[(i["code"], i["expression"]) for i in a["response"]["outcome"]["issue"]] for a in answers[1:]] == [
        [("structure", ["parameter[1].valueInteger"])], [("structure", ["parameter[0].resource.name[0].given"])]]


def test_a_match_file_names_the_field_of_a_wrong_type_and_refuses_deep_json():
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": _parameters()}, {"resource": _put(_parameters(), ("parameter", 0, "resource", "name"), "Zed")}]}
    first, second = match_queries.read_file("queries.json", json.dumps(batch))
    assert first.query is not None and first.query.count == 3
    assert (second.query, second.problem) == (None, "parameter[0].resource.name: Not a valid list.")
    with pytest.raises(ValueError, match="FHIR Bundle"):
        match_queries.read_file("queries.json", '{"resourceType": "Bundle", "entry": ' + DEEP + "}")


def test_a_wrong_type_in_a_bare_patient_names_the_field(operator, practice):
    response = operator.call("POST", f"/Patient/$match?practice={practice.id}",
                             json={"resourceType": "Patient", "name": {"family": "Zed"}, "birthDate": "1980-01-01"})
    assert response.status_code == 400 and response.json()["issue"][0]["expression"] == ["Patient.name"]


@pytest.mark.parametrize("method, path, body", [
    ("POST", "/api/practices/{practice}/roster", '{"resourceType": "Bundle", "entry": ' + DEEP + "}"),
    ("POST", "/api/practices/{practice}/roster", '{"rows": ' + DEEP + "}"),
    ("PUT", "/api/practices/{practice}", '{"name": ' + DEEP + "}"),
    ("POST", "/api/practices/{practice}/invitations", DEEP),
])
def test_json_nested_thousands_deep_is_a_400_problem(operator, practice, method, path, body):
    response = operator.call(method, path.format(practice=practice.id), data=body,
                             headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.headers["Content-Type"] == "application/problem+json"
    assert "nested at most 64 levels" in response.json()["detail"]


def test_match_nested_thousands_deep_is_a_400_operation_outcome(operator, practice):
    body = json.dumps(_parameters()).replace('"Zed"', DEEP)
    response = operator.call("POST", f"/Patient/$match?practice={practice.id}", data=body,
                             headers={"Content-Type": "application/fhir+json"})
    assert response.status_code == 400 and response.json()["resourceType"] == "OperationOutcome"
