"""$match for operators at scale: the per-client limit is the practice's setting, every 429 carries
Retry-After, a batch Bundle of Parameters is answered query by query (and counted query by query), and
`carekey registration match FILE` writes one CSV line per query."""
from __future__ import annotations

import csv
import io
import json

import pytest

from tests.registration.conftest import registration_cli, unique_family


def _patient(given: str, family: str, birth: str, **extra) -> dict:
    return {"resourceType": "Patient", "name": [{"family": family, "given": [given]}], "birthDate": birth, **extra}


def _parameters(patient: dict, **params) -> dict:
    return {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": patient}] +
            [{"name": k, **v} for k, v in params.items()]}


def _match(operator, practice_id: str, body) -> object:
    data = body if isinstance(body, str) else json.dumps(body)
    return operator.call("POST", f"/Patient/$match?practice={practice_id}", data=data,
                         headers={"Content-Type": "application/fhir+json"})


def _batch(*resources, **entry_extra) -> dict:
    return {"resourceType": "Bundle", "type": "batch",
            "entry": [{"resource": r, **entry_extra} for r in resources]}


def test_the_limit_is_the_practices_and_a_429_says_when_to_retry(operator, practice):
    practice.put(match_per_minute=2)
    family = unique_family()
    practice.patient(given_name="Rae", family_name=family, birth_date="1990-03-03")
    query = _parameters(_patient("Rae", family, "1990-03-03"))
    assert [_match(operator, practice.id, query).status_code for _ in range(2)] == [200, 200]
    refused = _match(operator, practice.id, query)
    assert refused.status_code == 429 and refused.json()["issue"][0]["code"] == "throttled"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "2 match queries a minute" in refused.json()["issue"][0]["diagnostics"]
    # the same client at another practice has that practice's own count
    other = f"{practice.id}-m"
    assert operator.call("PUT", f"/api/practices/{other}", json={"name": "Other"}).status_code == 200
    assert _match(operator, other, query).status_code == 200
    shown = operator.call("GET", f"/api/practices/{other}").json()["settings"]
    assert shown["match_per_minute"] == 600  # the default, as before


@pytest.mark.parametrize("value", [0, 60_001, "600", True, 1.5, None])
def test_the_match_limit_setting_is_validated(operator, practice, value):
    response = operator.call("PUT", f"/api/practices/{practice.id}", json={
        "name": "X", "settings": {"match_per_minute": value}})
    assert response.status_code == 400 and "match_per_minute" in json.dumps(response.json())


def test_a_batch_is_answered_entry_by_entry(operator, practice):
    family = unique_family()
    practice.patient(mrn="bt-1", given_name="Ida", family_name=family, birth_date="1971-07-07")
    practice.patient(mrn="bt-2", given_name="Otto", family_name=family, birth_date="1950-05-05")
    bundle = _batch(_parameters(_patient("Ida", family, "1971-07-07", address=[{"postalCode": "97201"}]),
                                count={"valueInteger": 1}),
                    _patient("Otto", family, "1950-05-05"),
                    _parameters(_patient("Nemo", family, "")),                 # no birth date
                    _parameters(_patient("Ida", family, "1971-07-07"), practice={"valueString": "elsewhere"}))
    bundle["entry"].append({"resource": _patient("Ida", family, "1971-07-07"),
                            "request": {"method": "GET", "url": "Patient/$match"}})
    bundle["entry"].append("not an entry")
    bundle["entry"].append({"resource": {"resourceType": "Parameters", "parameter": 5}})
    bundle["entry"].append({"resource": {"resourceType": "Parameters", "parameter": [{"a": [[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]}]}})
    response = _match(operator, practice.id, bundle)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/fhir+json")
    answer = response.json()
    assert answer["resourceType"] == "Bundle" and answer["type"] == "batch-response"
    statuses = [e["response"]["status"] for e in answer["entry"]]
    assert statuses == ["200 OK", "200 OK"] + ["400 Bad Request"] * 6
    first, second = answer["entry"][0]["resource"], answer["entry"][1]["resource"]
    assert first["type"] == "searchset" and first["total"] == 1 and first["entry"][0]["resource"]["id"] == "bt-1"
    assert first["entry"][0]["search"]["extension"][0]["valueCode"] == "certain"
    assert second["entry"][0]["resource"]["id"] == "bt-2"
    codes = [e["response"]["outcome"]["issue"][0]["code"] for e in answer["entry"][2:]]
    assert codes == ["required", "business-rule", "not-supported", "structure", "structure", "invalid"]
    audit = operator.call("GET", f"/api/practices/{practice.id}/audit?action=match").json()[0]
    assert audit["details"]["batch"] == 8
    # a NUL anywhere is refused before any query runs (every service refuses it in a request)
    bundle["entry"][0]["resource"]["parameter"][0]["resource"]["name"][0]["given"] = ["Ida\x00"]
    assert _match(operator, practice.id, bundle).status_code == 400


@pytest.mark.parametrize("body, status, says", [
    ({"resourceType": "Bundle", "type": "collection", "entry": [{}]}, 400, "batch"),
    ({"resourceType": "Bundle", "type": "batch", "entry": {}}, 400, "batch"),
    ({"resourceType": "Bundle", "type": "batch", "entry": []}, 400, "batch"),
    ({"resourceType": "Bundle", "type": "batch", "entry": [{}] * 101}, 413, "at most 100"),
    ("[" * 50_000 + "]" * 50_000, 400, "JSON"),
])
def test_a_batch_that_is_wrong_as_a_whole_is_refused_as_a_whole(operator, practice, body, status, says):
    response = _match(operator, practice.id, body)
    assert response.status_code == status and response.json()["resourceType"] == "OperationOutcome"
    assert says in response.json()["issue"][0]["diagnostics"]


def test_a_batch_names_an_existing_practice(operator):
    batch = _batch(_patient("A", "B", "1980-01-01"))
    assert operator.call("POST", "/Patient/$match", json=batch).status_code == 400
    assert _match(operator, "no-such-practice", batch).status_code == 404


def test_each_query_of_a_batch_counts_against_the_limit(operator, practice):
    practice.put(match_per_minute=3)
    batch = _batch(*[_patient("A", "B", "1980-01-01")] * 2)
    assert _match(operator, practice.id, batch).status_code == 200
    refused = _match(operator, practice.id, batch)  # 4 of 3
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert _match(operator, practice.id, _patient("A", "B", "1980-01-01")).status_code == 429


def test_the_cli_matches_a_file_one_csv_line_per_query(tmp_path, suite, operator, practice):
    family = unique_family()
    practice.patient(mrn="cl-1", given_name="Lena", family_name=family, birth_date="1966-06-06", zip="97201")
    practice.patient(mrn="cl-2", given_name="Lena", family_name=unique_family(), birth_date="1999-09-09")
    queries = tmp_path / "queries.csv"
    queries.write_text("ID,First Name,Last Name,DOB,Zip\n"
                       f"q1,Lena,{family},06/06/1966,97201\n"
                       f"q2,Lena Jordan,{family},1966-06-06,97201\n"
                       f"q3,Nobody,{unique_family()},1966-06-06,97201\n"
                       f"q4,Lena,{family},,97201\n")
    done = registration_cli(suite, "match", str(queries), "--practice", practice.id)
    assert done.returncode == 0, done.stderr
    lines = list(csv.DictReader(io.StringIO(done.stdout)))
    assert list(lines[0]) == ["query", "query_id", "grade", "score", "mrn", "matches", "problem"]
    assert [(r["query"], r["query_id"], r["grade"], r["mrn"]) for r in lines] == [
        ("line 2", "q1", "certain", "cl-1"), ("line 3", "q2", "probable", "cl-1"),
        ("line 4", "q3", "certainly-not", ""), ("line 5", "q4", "", "")]
    assert float(lines[0]["score"]) >= 0.8 and lines[0]["matches"] == "1"
    assert "birthDate" in lines[3]["problem"]

    bundle = tmp_path / "queries.json"
    bundle.write_text(json.dumps(_batch(
        _parameters(_patient("Lena", family, "1966-06-06", id="p-9", address=[{"postalCode": "97201"}])),
        _patient("Lena", family, "1966"), _patient("Lena\x00", family, "1966-06-06"))))
    out = tmp_path / "answers.csv"
    done = registration_cli(suite, "match", str(bundle), "--practice", practice.id, "--output", str(out))
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [(r["query"], r["query_id"], r["grade"], r["mrn"]) for r in rows] == [
        ("entry 1", "p-9", "certain", "cl-1"), ("entry 2", "", "", ""), ("entry 3", "", "", "")]
    assert "NUL" in rows[2]["problem"]
    assert registration_cli(suite, "match", str(queries), "--practice", "no-such").returncode != 0
