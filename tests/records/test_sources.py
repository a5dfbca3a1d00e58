"""The records-source port: one behaviour suite run against both implementations (the built-in
store and a practice's FHIR server over HTTP), and the FHIR server's timeouts, retries, circuit
breaker, credentials and distrust of what it is sent."""
from __future__ import annotations

import dataclasses
import time
import uuid

import pytest

from services import registry
from services.demo.charts import standard_chart
from services.records.errors import SourceUnavailable
from services.records.settings import FhirSourceConfig
from services.records.sources.fhir_server import FhirServerSource
from services.records.sources.store import StoreSource
from tests.records.conftest import bearer, born, ids, of_type, store
from tests.records.fake_fhir import FakeFhirServer


@pytest.fixture
def upstream():
    server = FakeFhirServer()
    yield server
    server.close()


@pytest.fixture(params=["store", "fhir"])
def source_kind(request):
    return request.param


def two_charts(kind: str, upstream, records_db):
    """Two patients of one practice, held by the store or by the practice's FHIR server."""
    practice = f"pr-{uuid.uuid4().hex[:10]}"
    a = standard_chart(practice, f"pt-{uuid.uuid4().hex[:8]}", given="Ann", family="Ames", birth_date=born(40))
    b = standard_chart(practice, f"pt-{uuid.uuid4().hex[:8]}", given="Ben", family="Burr", birth_date=born(8))
    for chart in (a, b):
        store(records_db, chart) if kind == "store" else upstream.add(chart)
    return practice, a, b


@pytest.fixture
def practice_charts(source_kind, upstream, records_db):
    return two_charts(source_kind, upstream, records_db)


@pytest.fixture
def fhir_charts(upstream, records_db):
    return two_charts("fhir", upstream, records_db)


def make_source(kind: str, practice: str, upstream, records_db, **options):
    if kind == "store":
        return StoreSource(records_db)
    return FhirServerSource(practice, FhirSourceConfig(upstream.url), **options)


def test_a_source_returns_a_patients_compartment_by_type(source_kind, practice_charts, upstream, records_db):
    practice, a, b = practice_charts
    source = make_source(source_kind, practice, upstream, records_db)
    for kind in ("Patient", "Observation", "Condition", "Appointment", "Immunization", "DocumentReference"):
        found = source.patient_resources(practice, a.patient_id, kind)
        assert {r["id"] for r in found} == {r["id"] for r in of_type(a, kind)}, kind
    assert source.patient_resources(practice, "nobody", "Observation") == []


def test_a_source_reads_by_id_whoever_it_belongs_to(source_kind, practice_charts, upstream, records_db):
    practice, a, b = practice_charts
    source = make_source(source_kind, practice, upstream, records_db)
    observation = of_type(b, "Observation")[0]
    assert source.resource(practice, "Observation", observation["id"])["id"] == observation["id"]
    assert source.resource(practice, "Observation", "no-such-id") is None
    assert source.resource(practice, "Medication", "med-albuterol")["resourceType"] == "Medication"


def test_released_results_carry_the_release_tag(source_kind, practice_charts, upstream, records_db):
    practice, a, _b = practice_charts
    source = make_source(source_kind, practice, upstream, records_db)
    found = {r["id"]: r for r in source.patient_resources(practice, a.patient_id, "Observation")}
    for resource, shared in a.entries:
        if resource["resourceType"] == "Observation" and shared is not None:
            tags = found[resource["id"]].get("meta", {}).get("tag", [])
            assert any(t["code"] == "shared" for t in tags) is shared


@pytest.fixture
def gateway_for(records_settings, upstream, people, tokens):
    """A records app whose practice is served by the store or by the FHIR server, and a token."""
    def make(kind: str, practice: str, chart, **settings_changes):
        sources = {practice: FhirSourceConfig(upstream.url, auth="bearer", token="upstream-secret")} \
            if kind == "fhir" else {}
        upstream.behaviour.token = "upstream-secret"
        settings = dataclasses.replace(records_settings, fhir_sources=sources, cache_seconds=0, **settings_changes)
        app = registry.create_app("records", settings)
        return app.test_client(), tokens.issue(people.new((practice, chart.patient_id, "self")), practice)
    return make


def test_the_gateway_behaves_the_same_over_either_source(source_kind, practice_charts, gateway_for):
    practice, a, b = practice_charts
    client, token = gateway_for(source_kind, practice, a)
    assert client.get(f"/Patient/{a.patient_id}", headers=bearer(token)).status_code == 200
    released = {r["id"] for r, shared in a.entries if r["resourceType"] == "Observation" and shared is not False}
    assert ids(client.get("/Observation?_count=100", headers=bearer(token)).json) == released
    for resource in of_type(b, "Observation") + of_type(b, "Patient"):
        assert client.get(f"/{resource['resourceType']}/{resource['id']}", headers=bearer(token)).status_code == 404
    assert client.get(f"/Observation?patient={b.patient_id}", headers=bearer(token)).status_code == 403


def test_a_server_that_leaks_other_patients_shows_nothing_of_them(fhir_charts, gateway_for, upstream):
    practice, a, b = fhir_charts
    client, token = gateway_for("fhir", practice, a)
    upstream.behaviour.leak = True
    found = client.get("/Condition?_count=100", headers=bearer(token)).json
    assert ids(found) == {r["id"] for r in of_type(a, "Condition")}
    assert b.patient_id not in str(found["entry"])


def test_pages_are_followed_on_the_same_origin_only(upstream, records_db):
    practice = "pr-paged"
    chart = standard_chart(practice, "pt-paged", given="Pia", family="Page", birth_date=born(30))
    upstream.add(chart)
    upstream.behaviour.page_size = 2
    source = FhirServerSource(practice, FhirSourceConfig(upstream.url))
    assert len(source.patient_resources(practice, "pt-paged", "Observation")) == len(of_type(chart, "Observation"))
    elsewhere = FakeFhirServer()
    try:
        upstream.behaviour.next_to = elsewhere.url.rsplit("/fhir", 1)[0]
        assert len(source.patient_resources(practice, "pt-paged", "Observation")) == 2
        assert elsewhere.behaviour.calls == [], "credentials never follow a link to another host"
    finally:
        elsewhere.close()


def test_transient_failures_are_retried_within_bounds(upstream):
    upstream.add(standard_chart("pr", "pt-r", given="Rey", family="Tri", birth_date=born(30)))
    source = FhirServerSource("pr", FhirSourceConfig(upstream.url), retries=2)
    upstream.behaviour.failures = 2
    assert source.resource("pr", "Patient", "pt-r")["id"] == "pt-r"
    assert len(upstream.behaviour.calls) == 3
    upstream.behaviour.failures, upstream.behaviour.calls[:] = 5, []
    with pytest.raises(SourceUnavailable):
        source.resource("pr", "Patient", "pt-r")
    assert len(upstream.behaviour.calls) == 3, "one try and two retries, no more"


def test_a_slow_server_times_out(upstream):
    upstream.behaviour.delay = 1.0
    source = FhirServerSource("pr", FhirSourceConfig(upstream.url), timeout=0.2, retries=0)
    started = time.monotonic()
    with pytest.raises(SourceUnavailable):
        source.resource("pr", "Patient", "x")
    assert time.monotonic() - started < 0.9


def test_the_circuit_opens_after_repeated_failures_and_closes_after_the_reset(upstream):
    upstream.add(standard_chart("pr", "pt-c", given="Cy", family="Cle", birth_date=born(30)))
    source = FhirServerSource("pr", FhirSourceConfig(upstream.url), retries=0, fail_max=3, reset_seconds=1)
    upstream.behaviour.down = True
    for _ in range(5):
        with pytest.raises(SourceUnavailable):
            source.resource("pr", "Patient", "pt-c")
    assert len(upstream.behaviour.calls) == 3, "an open circuit fails fast without calling the server"
    upstream.behaviour.down = False
    time.sleep(1.1)
    assert source.resource("pr", "Patient", "pt-c")["id"] == "pt-c"


def test_credentials_are_sent_and_a_refusal_is_an_outage_not_a_leak(fhir_charts, gateway_for, upstream):
    practice, a, _b = fhir_charts
    client, token = gateway_for("fhir", practice, a)
    assert client.get("/Condition", headers=bearer(token)).status_code == 200
    upstream.behaviour.token = "rotated-at-the-practice"
    response = client.get("/Condition", headers=bearer(token))
    assert response.status_code == 503 and response.json["issue"][0]["code"] == "transient"


def test_an_unreachable_practice_is_named_in_the_merged_view(fhir_charts, upstream, records_db, people, tokens,
                                                             records_settings):
    practice, a, _b = fhir_charts
    home = f"pr-{uuid.uuid4().hex[:10]}"
    mine = standard_chart(home, f"pt-{uuid.uuid4().hex[:8]}", given="Ann", family="Ames", birth_date=born(40))
    store(records_db, mine)
    settings = dataclasses.replace(records_settings, cache_seconds=0, source_retries=0,
                                   fhir_sources={practice: FhirSourceConfig(upstream.url)})
    client = registry.create_app("records", settings).test_client()
    token = tokens.issue(people.new((home, mine.patient_id, "self"), (practice, a.patient_id, "self")), home)
    upstream.behaviour.token = None
    assert client.get("/all/Condition", headers=bearer(token)).json["total"] == 4
    upstream.behaviour.down = True
    bundle = client.get("/all/Condition", headers=bearer(token))
    assert bundle.status_code == 200 and bundle.json["total"] == 2
    outcome = bundle.json["entry"][-1]
    assert outcome["search"]["mode"] == "outcome"
    assert outcome["resource"]["issue"][0]["details"]["coding"][0]["code"] == practice
