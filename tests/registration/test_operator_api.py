"""The operator API: practices, roster imports (JSON, CSV, FHIR; all or nothing), $match, OpenAPI, and
the bearer token checks in front of them."""
from __future__ import annotations

import json
import uuid

import pytest
import requests

from tests.registration.conftest import registration_cli, unique_family

CSV = """MRN,First Name,Last Name,DOB,Gender,Zip,Email,Phone,Office PIN
{m1},Maria,{f1},03/14/1979,F,97201-1234,maria@example.org,(555) 555-0101,1234
{m2},José,{f2},1991-11-02,M,97202,,555.555.0102,
"""


def _csv(practice) -> tuple[str, list[str]]:
    mrns = [f"c-{uuid.uuid4().hex[:6]}" for _ in range(2)]
    return CSV.format(m1=mrns[0], m2=mrns[1], f1=unique_family(), f2=unique_family()), mrns


def test_csv_import_upserts_by_mrn(operator, practice):
    text, mrns = _csv(practice)
    first = operator.call("POST", f"/api/practices/{practice.id}/roster", data=text.encode(),
                          headers={"Content-Type": "text/csv"})
    assert first.status_code == 200
    assert first.json() == {"created": 2, "updated": 0, "rejected": [], "notes": []}
    again = operator.call("POST", f"/api/practices/{practice.id}/roster", data=text.replace("97202", "97203").encode(),
                          headers={"Content-Type": "text/csv"})
    assert (again.json()["created"], again.json()["updated"]) == (0, 2)
    shown = operator.call("GET", f"/api/practices/{practice.id}/roster/{mrns[1]}").json()
    assert shown["zip"] == "97203" and shown["given_name"] == "José" and shown["has_email"] is False
    assert "pin" not in json.dumps(shown).lower().replace("has_pin", "")


def test_a_file_with_bad_rows_imports_nothing_and_names_each_problem(operator, practice):
    good = {"mrn": "ok-1", "given_name": "Ann", "family_name": unique_family(), "birth_date": "1980-01-01"}
    rows = [good, {"mrn": "bad-1", "given_name": "", "family_name": "X", "dob": "31/12/1980"},
            {"mrn": "ok-1", "given_name": "Dup", "family_name": "Y", "birth_date": "1980-01-01"},
            {"mrn": "bad 3", "given_name": "Z", "family_name": "Q", "birth_date": "2999-01-01", "zip": "ABCDE"}]
    response = operator.call("POST", f"/api/practices/{practice.id}/roster", json={"rows": rows})
    assert response.status_code == 422
    problems = {p["row"]: p["errors"] for p in response.json()["problems"]}
    assert set(problems) == {"row 2", "row 3", "row 4"}
    assert "dob" in problems["row 2"] and "given_name" in problems["row 2"]  # the caller's own names
    assert "mrn" in problems["row 3"]  # repeats row 1
    assert set(problems["row 4"]) == {"mrn", "zip"}  # a future birth date is imported as unknown, not refused
    assert "on_error=skip" in response.json()["detail"]
    assert operator.call("GET", f"/api/practices/{practice.id}/roster/ok-1").status_code == 404


def test_fhir_bundle_import(operator, practice):
    family = unique_family()
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p1",
                      "identifier": [{"type": {"coding": [{"code": "MR"}]}, "value": "f-100"}],
                      "name": [{"use": "official", "family": family, "given": ["Lee", "Ann"]}],
                      "gender": "female", "birthDate": "1970-05-05",
                      "telecom": [{"system": "phone", "value": "555-555-0199"}, {"system": "email", "value": "l@ex.org"}],
                      "address": [{"use": "home", "line": ["1 Elm"], "postalCode": "97210"}]}},
        {"resource": {"resourceType": "Observation", "id": "o1"}}]}
    response = operator.call("POST", f"/api/practices/{practice.id}/roster", json=bundle)
    assert response.status_code == 422 and response.json()["problems"][0]["row"] == "entry 2"
    bundle["entry"].pop()
    response = operator.call("POST", f"/api/practices/{practice.id}/roster", json=bundle)
    assert response.status_code == 200, response.text
    shown = operator.call("GET", f"/api/practices/{practice.id}/roster/f-100").json()
    assert (shown["given_name"], shown["middle_name"], shown["zip"], shown["has_phone"]) == ("Lee", "Ann", "97210", True)


def test_cli_imports_a_csv_file_and_reports_bad_rows(tmp_path, suite, practice, operator):
    text, mrns = _csv(practice)
    good, bad = tmp_path / "roster.csv", tmp_path / "bad.csv"
    good.write_text(text)
    bad.write_text(text + "x-1,,Nobody,13/45/2000,,,,,\n")
    run = lambda path: registration_cli(suite, "roster", "import", str(path), "--practice", practice.id)  # noqa: E731
    failed = run(bad)
    assert failed.returncode != 0 and "nothing was imported" in failed.stderr
    assert 'line 4 (MRN x-1), column "First Name": Required, but blank or missing.' in failed.stderr
    assert operator.call("GET", f"/api/practices/{practice.id}/roster/{mrns[0]}").status_code == 404
    done = run(good)
    assert done.returncode == 0, done.stderr
    assert "2 new" in done.stdout


def _match(operator, practice_id, patient, **params):
    body = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": patient}] +
            [{"name": k, **v} for k, v in params.items()]}
    return operator.call("POST", f"/Patient/$match?practice={practice_id}", json=body,
                         headers={"Content-Type": "application/fhir+json"})


def _patient(given, family, birth, **extra):
    resource = {"resourceType": "Patient", "name": [{"family": family, "given": [given]}], "birthDate": birth}
    resource.update(extra)
    return resource


def test_match_grades_a_typo_and_keeps_twins_apart(operator, practice):
    family = unique_family()
    practice.patient(mrn="tw-1", given_name="John", family_name=family, birth_date="2001-09-09", phone="555-555-0111")
    practice.patient(mrn="tw-2", given_name="James", family_name=family, birth_date="2001-09-09", phone="555-555-0111")
    response = _match(operator, practice.id, _patient("John", family, "2001-09-09",
                                                      address=[{"postalCode": "97201"}]))
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/fhir+json")
    bundle = response.json()
    grades = {e["resource"]["id"]: e["search"]["extension"][0]["valueCode"] for e in bundle["entry"]}
    assert grades["tw-1"] == "certain" and grades.get("tw-2") in (None, "possible")
    assert bundle["entry"][0]["resource"]["id"] == "tw-1" and bundle["entry"][0]["search"]["mode"] == "match"
    typo = _match(operator, practice.id, _patient("Jon", family, "2001-09-09")).json()
    assert typo["entry"][0]["resource"]["id"] == "tw-1"
    assert typo["entry"][0]["search"]["extension"][0]["valueCode"] in ("probable", "possible")
    only = _match(operator, practice.id, _patient("Jon", family, "2001-09-09"),
                  onlyCertainMatches={"valueBoolean": True}).json()
    assert only["total"] == 0


@pytest.mark.parametrize("body, status", [
    ({"resourceType": "Parameters", "parameter": []}, 400),
    ({"resourceType": "Patient", "name": [{"family": "X"}]}, 400),
    ({"resourceType": "Patient", "name": [{"family": "X"}], "birthDate": "1980"}, 400),
    ("not json", 400),
])
def test_match_rejects_bad_input_with_an_operation_outcome(operator, practice, body, status):
    data = body if isinstance(body, str) else json.dumps(body)
    response = operator.call("POST", f"/Patient/$match?practice={practice.id}", data=data,
                             headers={"Content-Type": "application/fhir+json"})
    assert response.status_code == status and response.json()["resourceType"] == "OperationOutcome"


def test_api_needs_a_token_with_the_right_scope(registration_server, identity_server, suite, practice):
    url = f"{registration_server.url}/api/practices"
    none = requests.get(url, timeout=10)
    assert none.status_code == 401 and none.headers["WWW-Authenticate"].startswith("Bearer")
    forged = requests.get(url, headers={"Authorization": "Bearer abc.def.ghi"}, timeout=10)
    assert forged.status_code == 401 and 'error="invalid_token"' in forged.headers["WWW-Authenticate"]
    from services.identity.domain import clients
    from shared.database import make_session_factory, transaction
    with transaction(make_session_factory(suite.engines["identity"])) as session:
        client, secret = clients.create_client(session, clients.ClientSpec(name="Matcher",
                                                                           scope="registration:match"))
        client_id = client.client_id
    token = requests.post(f"{identity_server.url}/token", data={"grant_type": "client_credentials",
                                                                "scope": "registration:match"},
                          auth=(client_id, secret), timeout=10).json()["access_token"]
    limited = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert limited.status_code == 403 and "insufficient_scope" in limited.headers["WWW-Authenticate"]
    matched = requests.post(f"{registration_server.url}/Patient/$match?practice={practice.id}",
                            json=_patient("A", "B", "1980-01-01"), headers={"Authorization": f"Bearer {token}"},
                            timeout=10)
    assert matched.status_code == 200


def test_practice_settings_are_validated(operator, practice):
    bad = operator.call("PUT", f"/api/practices/{practice.id}", json={"name": "X", "settings": {"paths": ["fax"]}})
    assert bad.status_code == 400 and "paths" in json.dumps(bad.json()["errors"])
    bad = operator.call("PUT", f"/api/practices/{practice.id}", json={
        "name": "X", "settings": {"proxy": {"full_access_under": 15, "teen_until": 13}}})
    assert bad.status_code == 400
    ok = practice.put(code_channels=["email"], office_pin=False, invitation_days=7)
    assert ok["settings"]["invitation_days"] == 7 and ok["settings"]["code_channels"] == ["email"]


def test_openapi_document_describes_the_api(registration_server):
    document = requests.get(f"{registration_server.url}/openapi.json", timeout=10).json()
    assert document["openapi"].startswith("3.")
    assert "/api/practices/{practice_id}/roster" in document["paths"] and "/Patient/$match" in document["paths"]
    assert "PracticeInput" in document["components"]["schemas"]
    app_rules = {rule.rule.replace("<", "{").replace(">", "}") for rule in registration_server.app.url_map.iter_rules()
                 if rule.rule.startswith("/api/")}
    assert app_rules == {p for p in document["paths"] if p.startswith("/api/")}


def test_a_token_meant_for_another_service_is_refused_with_a_hint(registration_server, identity_server, suite):
    """A token identity minted for someone else (here its own internal API) names its audience and the one
    this API accepts, so an operator whose settings disagree sees why, not a bare 401."""
    from services.identity.domain import clients
    from shared.database import make_session_factory, transaction
    with transaction(make_session_factory(suite.engines["identity"])) as session:
        client, secret = clients.create_client(session, clients.ClientSpec(name="Accounts", scope="identity:accounts"))
    token = requests.post(f"{identity_server.url}/token", auth=(client.client_id, secret), timeout=10,
                          data={"grant_type": "client_credentials", "scope": "identity:accounts"}).json()["access_token"]
    response = requests.get(f"{registration_server.url}/api/practices", timeout=10,
                            headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and response.json()["code"] == "invalid_token"
    expected = registration_server.settings.audience
    assert response.json()["detail"] == (f"The token is for {identity_server.url}; this API accepts tokens for "
                                         f"{expected}.")
    assert f"this API accepts tokens for {expected}" in response.headers["WWW-Authenticate"]
    forged = requests.get(f"{registration_server.url}/api/practices", headers={"Authorization": "Bearer a.b.c"},
                          timeout=10)
    assert forged.json()["detail"] == "The access token is not valid.", "no hint without a good signature"


def test_registration_refuses_to_sign_people_in_through_an_identity_that_is_not_its_issuer(
        registration_server, identity_server):
    """What answers at identity's address must say it is the configured issuer (OIDC Discovery §4.3): on a
    shared machine another suite's identity on the default port is not ours."""
    import dataclasses
    from services import registry
    settings = dataclasses.replace(registration_server.settings, identity_issuer="http://127.0.0.1:8001",
                                   identity_internal_url=identity_server.url)
    page = registry.create_app("registration", settings).test_client().get("/oidc/login?next=/")
    assert page.status_code == 503 and "Sign-in is unavailable" in page.get_data(as_text=True)
    assert "Location" not in page.headers
