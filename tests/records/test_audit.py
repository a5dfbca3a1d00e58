"""Every read is in an append-only access log, and the patient can see who read their records."""
from __future__ import annotations

import base64
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from services.records.db import repositories
from services.records.db.repositories import SqlAccessLog
from tests.records.conftest import bearer, of_type
from tests.records.test_tokens import claims_of


def audit_events(records, token: str) -> list[dict]:
    bundle = records.get("/AuditEvent?_count=100", headers=bearer(token))
    assert bundle.status_code == 200, bundle.json
    return [e["resource"] for e in bundle.json.get("entry", [])]


def entity_refs(event: dict) -> set[str]:
    return {e["what"]["reference"] for e in event["entity"] if "what" in e}


def test_the_patient_sees_who_read_what_when_and_from_where(records, reader):
    practice, chart, token = reader
    observation = of_type(chart, "Observation")[0]["id"]
    assert records.get(f"/Observation/{observation}", headers=bearer(token)).status_code == 200
    assert records.get("/Condition?clinical-status=active", headers=bearer(token)).status_code == 200
    events = audit_events(records, token)
    claims = claims_of(token)
    read = next(e for e in events if f"Observation/{observation}" in entity_refs(e))
    assert read["subtype"][0]["code"] == "read" and read["action"] == "R" and read["outcome"] == "0"
    who, app = read["agent"]
    assert who["who"]["identifier"]["value"] == claims["sub"] and who["requestor"] is True
    assert app["who"]["identifier"]["value"] == claims["client_id"]
    assert read["source"]["site"] == practice and f"Patient/{chart.patient_id}" in entity_refs(read)
    search = next(e for e in events if e["subtype"][0]["code"] == "search-type"
                  and e["entity"][-1].get("description", "").startswith("Condition?"))
    query = next(e for e in search["entity"] if "query" in e)
    assert base64.b64decode(query["query"]).decode() == "clinical-status=active"
    assert {f"Condition/{c['id']}" for c in of_type(chart, "Condition")} <= entity_refs(search)
    assert events == sorted(events, key=lambda e: e["recorded"], reverse=True)


def test_refusals_are_recorded_for_the_patient_they_concern(records, practices, charts, people, tokens):
    practice = practices.new()
    teen = charts.new(practice, age=14)
    parent = people.new((practice, teen.patient_id, "proxy"))
    refused = records.get("/Observation", headers=bearer(tokens.issue(parent, practice, patient=teen.patient_id)))
    assert refused.status_code == 403
    teens_own = tokens.issue(people.new((practice, teen.patient_id, "self")), practice)
    events = audit_events(records, teens_own)
    attempt = next(e for e in events if e["agent"][0]["type"]["text"] == "proxy")
    assert attempt["outcome"] == "4" and attempt["outcomeDesc"] == "forbidden"
    assert attempt["agent"][0]["who"]["display"] == "Someone acting for the patient"


def test_one_patients_log_is_not_anothers(records, reader, practices, charts, people, tokens):
    practice, chart, token = reader
    records.get(f"/Patient/{chart.patient_id}", headers=bearer(token))
    other = charts.new(practice)
    other_token = tokens.issue(people.new((practice, other.patient_id, "self")), practice)
    theirs = audit_events(records, other_token)
    assert all(f"Patient/{other.patient_id}" in entity_refs(e) for e in theirs)
    assert not any(f"Patient/{chart.patient_id}" in entity_refs(e) for e in theirs)
    assert records.get(f"/AuditEvent?patient={chart.patient_id}", headers=bearer(other_token)).status_code == 403
    mine = audit_events(records, token)
    assert records.get(f"/AuditEvent/{mine[0]['id']}", headers=bearer(token)).status_code == 200
    assert records.get(f"/AuditEvent/{mine[0]['id']}", headers=bearer(other_token)).status_code == 404


def test_cross_practice_reads_are_logged_for_each_patient_read(records, records_db, practices, charts, people,
                                                                tokens):
    here, there = practices.new(), practices.new()
    me_here, me_there = charts.new(here), charts.new(there)
    person = people.new((here, me_here.patient_id, "self"), (there, me_there.patient_id, "self"))
    token = tokens.issue(person, here)
    assert records.get("/all/Immunization", headers=bearer(token)).status_code == 200
    log = SqlAccessLog(records_db)
    for practice, chart in ((here, me_here), (there, me_there)):
        (entry,) = [r for _id, _at, r in log.for_patient(practice, chart.patient_id)]
        assert entry.action == "search" and entry.resource_type == "Immunization" and entry.outcome == "success"
        assert set(entry.resource_ids) == {r["id"] for r in of_type(chart, "Immunization")}


def test_the_log_has_no_way_to_change_or_remove_an_entry():
    assert {name for name in dir(SqlAccessLog) if not name.startswith("_")} == {"record", "for_patient"}
    package = Path(repositories.__file__).resolve().parents[1]
    for module in package.rglob("*.py"):
        source = module.read_text()
        for forbidden in ("update(AccessEvent", "delete(AccessEvent", "session.delete(", "access_events SET"):
            assert forbidden not in source, (module, forbidden)


@pytest.mark.parametrize("statement", ["UPDATE access_events SET outcome = 'success'", "DELETE FROM access_events"])
def test_the_database_refuses_to_change_the_log(suite, records, reader, statement):
    _practice, chart, token = reader
    records.get(f"/Patient/{chart.patient_id}", headers=bearer(token))
    with pytest.raises(DBAPIError, match="append-only"):
        with suite.engines["records"].begin() as connection:
            connection.execute(text(statement))
