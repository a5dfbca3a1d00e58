"""What practices let out: lab results only once released, clinical notes only while notes are on,
and granular scopes narrowing what an app sees."""
from __future__ import annotations

from services.records.db.repositories import save_practice
from services.records.domain.policy import is_lab_result, is_note
from services.records.sources.store import set_shared
from shared.database import transaction
from tests.records.conftest import bearer, ids, of_type


def shared_ids(chart, resource_type: str) -> tuple[set[str], set[str]]:
    labs = [(r, s) for r, s in chart.entries if r["resourceType"] == resource_type and is_lab_result(r)]
    return {r["id"] for r, s in labs if s}, {r["id"] for r, s in labs if not s}


def test_only_released_lab_results_are_served(records, sign_in):
    _practice, chart, token = sign_in()
    for kind in ("Observation", "DiagnosticReport"):
        released, held = shared_ids(chart, kind)
        assert released and held
        found = ids(records.get(f"/{kind}?_count=100", headers=bearer(token)).json)
        assert released <= found and not held & found, kind
        for rid in held:
            assert records.get(f"/{kind}/{rid}", headers=bearer(token)).status_code == 404
        for rid in released:
            served = records.get(f"/{kind}/{rid}", headers=bearer(token)).json
            assert {"system": "https://carekey.example/release", "code": "shared",
                    "display": "Released to the patient"} in served["meta"]["tag"]
    labs = records.get("/Observation?category=laboratory", headers=bearer(token)).json
    assert ids(labs) == shared_ids(chart, "Observation")[0]
    vitals = records.get("/Observation?category=vital-signs", headers=bearer(token)).json
    assert ids(vitals) == {r["id"] for r in of_type(chart, "Observation") if not is_lab_result(r)}


def test_a_result_released_later_is_served_once_the_cache_has_let_go(records, records_app, records_db, sign_in):
    practice, chart, token = sign_in()
    (held,) = shared_ids(chart, "Observation")[1]
    with transaction(records_db) as session:
        assert set_shared(session, practice, "Observation", held, True)
    records_app.extensions["carekey.records"].cache.clear()  # at most RECORDS_CACHE_SECONDS otherwise
    assert records.get(f"/Observation/{held}", headers=bearer(token)).status_code == 200


def notes_of(chart) -> set[str]:
    return {r["id"] for r, _ in chart.entries if is_note(r)}


def test_notes_are_served_when_the_practice_has_notes_on(records, sign_in):
    _practice, chart, token = sign_in(notes=True)
    assert ids(records.get("/DocumentReference", headers=bearer(token)).json) == {
        r["id"] for r in of_type(chart, "DocumentReference")}
    reports = ids(records.get("/DiagnosticReport", headers=bearer(token)).json)
    assert notes_of(chart) - reports == {r["id"] for r in of_type(chart, "DocumentReference")}


def test_notes_are_hidden_when_the_practice_turns_them_off(records, sign_in, records_db):
    practice, chart, token = sign_in(notes=True)
    with transaction(records_db) as session:
        save_practice(session, practice, notes_enabled=False)
    documents = records.get("/DocumentReference", headers=bearer(token))
    assert documents.status_code == 200 and documents.json["total"] == 0
    for note in notes_of(chart):
        kind = "DocumentReference" if note in {r["id"] for r in of_type(chart, "DocumentReference")} \
            else "DiagnosticReport"
        assert records.get(f"/{kind}/{note}", headers=bearer(token)).status_code == 404
    reports = ids(records.get("/DiagnosticReport", headers=bearer(token)).json)
    assert reports == shared_ids(chart, "DiagnosticReport")[0], "lab reports stay; imaging narratives go"
    assert records.get("/Condition", headers=bearer(token)).json["total"] == len(of_type(chart, "Condition"))


def test_a_granular_scope_narrows_what_the_app_sees(records, sign_in):
    _practice, chart, token = sign_in(scope="openid launch/patient patient/Observation.rs?category=laboratory")
    found = records.get("/Observation", headers=bearer(token))
    assert found.status_code == 200 and ids(found.json) == shared_ids(chart, "Observation")[0]
    vital = next(r for r in of_type(chart, "Observation") if not is_lab_result(r))
    assert records.get(f"/Observation/{vital['id']}", headers=bearer(token)).status_code == 404
    refused = records.get("/Condition", headers=bearer(token))
    assert refused.status_code == 403
    assert refused.headers["WWW-Authenticate"] == \
        'Bearer realm="records", error="insufficient_scope", scope="patient/Condition.rs"'
    assert records.get(f"/Patient/{chart.patient_id}", headers=bearer(token)).status_code == 403


def test_v1_read_scopes_work_too(records, sign_in):
    _practice, chart, token = sign_in(scope="openid launch/patient patient/Condition.read")
    assert records.get("/Condition", headers=bearer(token)).json["total"] == len(of_type(chart, "Condition"))
    assert records.get("/Observation", headers=bearer(token)).status_code == 403
