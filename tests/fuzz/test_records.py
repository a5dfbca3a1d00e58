"""Records, fuzzed: every FHIR endpoint with a patient's real access token, so that the bad input
reaches the search parser; every refusal there is an OperationOutcome."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.fuzz.harness import Endpoint, fuzz, plain, report
from tests.fuzz.inputs import Request
from tests.records.conftest import bearer


FHIR_BLUEPRINTS = ("fhir", "everywhere", "metadata")


def formats(endpoint: str | None) -> set[str]:
    """OperationOutcome on the FHIR surface; problem details elsewhere (health, URLs no rule matches)."""
    return {"outcome"} if endpoint and endpoint.split(".")[0] in FHIR_BLUEPRINTS else {"problem"}


@pytest.fixture
def records_specs(records_app, reader):
    _practice, chart, token = reader
    auth = tuple(bearer(token).items())
    def cursor(url: str) -> str:
        first_page = records_app.test_client().get(url, headers=bearer(token)).json
        return next(parse_qs(urlsplit(link["url"]).query)["_cursor"][0]
                    for link in first_page["link"] if link["relation"] == "next")

    search = (("patient", chart.patient_id), ("code", "http://loinc.org|85354-9"), ("date", "ge2020-01-01"),
              ("status", "final"), ("_count", "5"))
    type_vars = {"resource_type": "Observation"}

    def endpoint(*baselines: Request):
        return lambda: Endpoint([Request(b.method, {**type_vars, **b.path_vars}, b.query, headers=auth)
                                 for b in baselines])

    return {
        "health.healthz": plain, "health.readyz": plain, "health.metrics": plain,
        "metadata.capability_statement": lambda: Endpoint([Request("GET", query=(("_format", "json"),))]),
        "fhir.search": endpoint(Request("GET", query=search),
                                Request("GET", query=(("_cursor", cursor("/Observation?_count=1")),)),
                                Request("GET", {"resource_type": "AuditEvent"}, (("date", "ge2020-01-01"),))),
        "fhir.read": endpoint(Request("GET", {"resource_type": "Patient", "resource_id": chart.patient_id},
                                      (("_format", "json"),))),
        "fhir.elsewhere": endpoint(Request("GET", {"rest": "x/_history"})),
        "fhir.write": endpoint(*(Request(m, {"rest": "x"}) for m in ("POST", "PUT", "PATCH", "DELETE"))),
        "everywhere.search": endpoint(Request("GET", query=search),
                                      Request("GET", query=(("_cursor", cursor("/all/Observation?_count=1")),))),
        "everywhere.elsewhere": endpoint(Request("GET", {"rest": "x"})),
        "everywhere.write": endpoint(*(Request(m, {"rest": "x"}) for m in ("POST", "PUT", "PATCH", "DELETE"))),
    }


def test_no_endpoint_answers_bad_input_with_a_5xx_or_a_foreign_format(records_app, records_specs):
    failures, sent = fuzz(records_app, records_specs, formats)
    assert not failures, report("records", failures, sent)
