"""The cross-practice view, ``GET /all/{type}``: the account's own records at every linked practice
and those of the people it may act for, merged, each resource tagged with its practice."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.records.conftest import bearer, ids, of_type

PRACTICE_TAG = "https://carekey.example/practice"


@pytest.fixture
def household(practices, charts, people, tokens):
    riverside, hillside = practices.new(), practices.new(notes=False)
    me_here = charts.new(riverside, given="Alex")
    me_there = charts.new(hillside, given="Alex")
    child = charts.new(riverside, age=6, given="Mia")
    teen = charts.new(hillside, age=14, given="Noah")
    stranger = charts.new(hillside, given="Stranger")
    person = people.new((riverside, me_here.patient_id, "self"), (hillside, me_there.patient_id, "self"),
                        (riverside, child.patient_id, "proxy"), (hillside, teen.patient_id, "proxy"))
    token = tokens.issue(person, riverside, patient=me_here.patient_id)
    return dict(riverside=riverside, hillside=hillside, me_here=me_here, me_there=me_there, child=child,
                teen=teen, stranger=stranger, token=token)


def practice_of(entry: dict) -> str:
    (tag,) = [t["code"] for t in entry["resource"]["meta"]["tag"] if t["system"] == PRACTICE_TAG]
    return tag


def test_merges_every_allowed_link_and_tags_each_resource(records, household):
    h = household
    bundle = records.get("/all/Condition?_count=100", headers=bearer(h["token"])).json
    expected = {(c.practice, r["id"]) for c in (h["me_here"], h["me_there"], h["child"])
                for r in of_type(c, "Condition")}
    assert {(practice_of(e), e["resource"]["id"]) for e in bundle["entry"]} == expected
    assert bundle["total"] == len(expected)
    full_urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(set(full_urls)) == len(full_urls) and all(u.startswith("urn:uuid:") for u in full_urls)
    teen_and_stranger = {h["teen"].patient_id, h["stranger"].patient_id}
    assert not any(pid in str(bundle) for pid in teen_and_stranger), "a teen without consent is left out silently"


def test_patients_of_the_view(records, household):
    h = household
    patients = records.get("/all/Patient", headers=bearer(h["token"])).json
    assert ids(patients) == {h["me_here"].patient_id, h["me_there"].patient_id, h["child"].patient_id}


def test_the_view_narrows_to_one_linked_patient_and_no_other(records, household):
    h = household
    child = records.get(f"/all/Observation?patient={h['child'].patient_id}", headers=bearer(h["token"]))
    assert child.status_code == 200 and child.json["total"] > 0
    assert {e["resource"]["subject"]["reference"] for e in child.json["entry"]} == {f"Patient/{h['child'].patient_id}"}
    for other in (h["teen"], h["stranger"]):
        refused = records.get(f"/all/Observation?patient={other.patient_id}", headers=bearer(h["token"]))
        assert refused.status_code == 403 and "entry" not in refused.json


def test_each_practices_rules_apply_in_the_merged_view(records, household):
    h = household
    notes = records.get("/all/DocumentReference", headers=bearer(h["token"])).json
    assert {practice_of(e) for e in notes["entry"]} == {h["riverside"]}, "hillside has notes off"
    labs = records.get("/all/Observation?category=laboratory&_count=100", headers=bearer(h["token"])).json
    released = {r["id"] for c in (h["me_here"], h["me_there"], h["child"]) for r, shared in c.entries if shared
                and r["resourceType"] == "Observation"}
    assert ids(labs) == released


def test_merged_paging_visits_everything_once(records, household):
    h = household
    url, seen = "/all/Immunization?_count=2", []
    while url:
        page = records.get(url, headers=bearer(h["token"]))
        assert page.status_code == 200
        seen += [(practice_of(e), e["resource"]["id"]) for e in page.json["entry"]]
        nxt = [link["url"] for link in page.json["link"] if link["relation"] == "next"]
        url = f"{urlsplit(nxt[0]).path}?{urlsplit(nxt[0]).query}" if nxt else None
    expected = {(c.practice, r["id"]) for c in (h["me_here"], h["me_there"], h["child"])
                for r in of_type(c, "Immunization")}
    assert len(seen) == len(expected) and set(seen) == expected


def test_the_portals_own_view_stays_at_its_practice(records, household):
    h = household
    own = records.get("/Condition", headers=bearer(h["token"])).json
    assert ids(own) == {r["id"] for r in of_type(h["me_here"], "Condition")}
    assert {practice_of(e) for e in own["entry"]} == {h["riverside"]}
