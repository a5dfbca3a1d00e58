"""`carekey demo seed` fills the store for Riverside and Hillside (idempotently), the demo is
readable through the gateway, and `carekey records ...` changes what practices let out."""
from __future__ import annotations

import json
import uuid
from datetime import date

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from services import registry
from services.cli import main
from services.demo import records as demo
from services.records.db.models import Practice, StoredResource, TeenConsent
from services.records.domain.policy import age_on, is_note
from tests.records.conftest import bearer, ids


@pytest.fixture
def seeded(records_app, records_db):
    with records_app.app_context():
        first = demo.seed(records_app)
    return first


def counts(records_db) -> tuple:
    with records_db() as session:
        return (session.scalar(select(func.count()).select_from(StoredResource)),
                session.scalar(select(func.max(StoredResource.updated_at))))


def test_seeding_twice_changes_nothing(records_app, records_db, seeded):
    before = counts(records_db)
    with records_app.app_context():
        again = demo.seed(records_app)
    assert again == seeded and counts(records_db) == before


def test_the_demo_has_children_teens_adults_labs_and_notes(records_db, seeded):
    assert any("riverside" in line and "notes on" in line for line in seeded)
    assert any("hillside" in line and "notes off" in line for line in seeded)
    with records_db() as session:
        practices = {row.id: row for row in session.scalars(select(Practice)).all()}
        consents = {(c.practice_id, c.patient_id) for c in session.scalars(select(TeenConsent)).all()}
        rows = session.scalars(select(StoredResource).where(StoredResource.practice_id.in_(["riverside", "hillside"])))
        stored = [(r.practice_id, json.loads(r.body), r.shared) for r in rows]
    assert practices["riverside"].notes_enabled and not practices["hillside"].notes_enabled
    ages = {r["id"]: age_on(date.fromisoformat(r["birthDate"]), date.today())
            for _p, r, _s in stored if r["resourceType"] == "Patient"}
    assert {"rv-1001", "rv-1002", "rv-1003", "rv-1004", "rv-1005", "hs-2001", "hs-2002", "hs-2003"} <= set(ages)
    assert ages["rv-1002"] < 12 and 12 <= ages["rv-1003"] < 18 and 12 <= ages["rv-1004"] < 18 and ages["rv-1001"] >= 18
    assert ("riverside", "rv-1004") in consents and ("riverside", "rv-1003") not in consents
    labs = [shared for _p, r, shared in stored if r["resourceType"] == "Observation" and r.get("category")
            and r["category"][0]["coding"][0]["code"] == "laboratory"]
    assert True in labs and False in labs
    assert any(is_note(r) for _p, r, _s in stored)


def test_demo_records_are_served_to_the_demo_patient(records, seeded, people, tokens):
    alex = people.new(("riverside", "rv-1001", "self"), ("hillside", "hs-2001", "self"),
                      ("riverside", "rv-1002", "proxy"), ("riverside", "rv-1003", "proxy"))
    token = tokens.issue(alex, "riverside", patient="rv-1001")
    assert records.get("/Patient/rv-1001", headers=bearer(token)).json["name"][0]["given"] == ["Alex"]
    everyone = records.get("/all/Patient", headers=bearer(token)).json
    assert ids(everyone) == {"rv-1001", "hs-2001", "rv-1002"}, "Noah (14, no consent) is left out"


def run(suite, *args: str):
    result = CliRunner().invoke(main, ["records", *args], env=suite.environ("records"), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_operators_set_practice_rules_consents_and_releases(suite, records_db, records, records_app, tmp_path,
                                                           people, tokens):
    practice = f"pr-{uuid.uuid4().hex[:8]}"
    shown = json.loads(run(suite, "practice", practice, "--name", "Lakeside", "--no-notes", "--proxy-full-under", "13"))
    assert shown == {"id": practice, "name": "Lakeside", "notes_enabled": False, "proxy_full_under": 13,
                     "adult_at": 18}
    bad = CliRunner().invoke(main, ["records", "practice", practice, "--proxy-full-under", "40"],
                             env=suite.environ("records"))
    assert bad.exit_code != 0 and "ages must" in bad.output
    lab = {"resourceType": "Observation", "id": "lab-1", "status": "final", "subject": {"reference": "Patient/t-1"},
           "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                     "code": "laboratory"}]}],
           "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]}}
    patient = {"resourceType": "Patient", "id": "t-1", "birthDate": "2011-01-01"}
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps({"resourceType": "Bundle", "type": "collection",
                                  "entry": [{"resource": patient}, {"resource": lab}]}))
    assert "loaded 2 resources" in run(suite, "load", practice, str(bundle))
    token = tokens.issue(people.new((practice, "t-1", "self")), practice)
    assert records.get("/Observation/lab-1", headers=bearer(token)).status_code == 404
    run(suite, "release", practice, "Observation", "lab-1")
    records_app.extensions["carekey.records"].cache.clear()
    assert records.get("/Observation/lab-1", headers=bearer(token)).status_code == 200
    assert "teen consent on file" in run(suite, "teen-consent", practice, "t-1")
    assert "withdrawn" in run(suite, "teen-consent", practice, "t-1", "--withdraw")


def test_the_service_starts_from_the_environment_alone(suite):
    app = registry.create_app("records", registry.settings("records", suite.environ("records")))
    assert app.test_client().get("/metadata").status_code == 200
