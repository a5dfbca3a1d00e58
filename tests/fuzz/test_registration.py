"""Registration, fuzzed: the operator API and $match with an operator's token, the pages with a
patient part-way through registering (identified, or identity proven), so that the bad input
reaches the forms and parsers behind each step."""
from __future__ import annotations

import time
import uuid
from datetime import date

import pytest

from services.registration.web.flow import ACCOUNT, SIGNED_IN_AT
from tests.fuzz.harness import PAGE, Endpoint, fuzz, plain, report
from tests.fuzz.inputs import Request



def formats(endpoint: str | None) -> set[str]:
    """Pages for the patient, problem details from the operator API, OperationOutcome from $match
    (whose bearer check answers problem details, like the operator API's)."""
    blueprint = endpoint.split(".")[0] if endpoint else None
    if blueprint in ("pages", "oidc"):
        return {"page"}
    if blueprint == "match_api":
        return {"outcome", "problem"}
    return {"problem", "page"} if blueprint is None else {"problem"}


@pytest.fixture
def registration_specs(registration_server, operator, practice, make_account):
    app = registration_server.app
    auth = (("Authorization", f"Bearer {operator.token}"),)
    practice.put(office_pin=True, code_channels=["email", "sms"], match_per_minute=60_000)  # every $match parsed

    def patient(stage: str):
        """A patient's browser: at the start of sign-up, identified, with identity proven by PIN, or
        signed in with a CareKey account (as a proxy asking for access is)."""
        client = app.test_client()
        if stage == "signed_in":
            with client.session_transaction() as session:
                session[ACCOUNT], session[SIGNED_IN_AT] = str(make_account().id), time.time()
        client.environ_base["HTTP_X_FORWARDED_FOR"] = f"198.51.100.{uuid.uuid4().int % 250 + 1}"
        row = practice.patient()
        client.get(f"/practices/{practice.id}/signup")
        if stage != "start":
            born = date.fromisoformat(row["birth_date"]).strftime("%m/%d/%Y")
            client.post(f"/practices/{practice.id}/signup", data={
                "given_name": row["given_name"], "family_name": row["family_name"], "birth_date": born,
                "zip": row["zip"], "email": row["email"], "csrf_token": csrf(client)})
        if stage == "proven":
            client.post("/enroll/prove", data={"method": "pin", "pin": row["pin"], "csrf_token": csrf(client)})
        return client, row

    def page(stage: str, *fields: tuple[str, str], path_vars=None, get: bool = True, post: bool = True):
        def spec() -> Endpoint:
            client, row = patient(stage)
            baselines = [Request("POST", path_vars or {}, form=(*fields, ("csrf_token", csrf(client))),
                                 cookies="patient")] if post else []
            if get:
                baselines.append(Request("GET", path_vars or {}, cookies="patient"))
            return Endpoint(baselines, accept=PAGE, clients={"patient": client})
        return spec

    def api(*baselines: Request):
        return lambda: Endpoint([Request(b.method, {"practice_id": practice.id, **b.path_vars}, b.query, b.form,
                                         b.json, auth, raw_body=b.raw_body, content_type=b.content_type)
                                 for b in baselines])

    mrn = practice.patient()["mrn"]
    row = {"mrn": f"fz-{uuid.uuid4().hex[:6]}", "given_name": "Fay", "family_name": "Zed", "birth_date": "1980-02-03",
           "sex": "female", "zip": "97201", "email": "fz@example.org", "phone": "(555) 555-0111", "pin": "2468"}
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {
        "resourceType": "Patient", "id": "fz1",
        "identifier": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
                        "value": row["mrn"]}],
        "name": [{"use": "official", "family": "Zed", "given": ["Fay", "Q"]}], "gender": "female",
        "birthDate": "1980-02-03", "telecom": [{"system": "phone", "value": "555-555-0111"}],
        "address": [{"use": "home", "line": ["1 Elm"], "city": "Portland", "state": "OR", "postalCode": "97201"}]}}]}
    parameters = {"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": bundle["entry"][0]["resource"]},
        {"name": "onlyCertainMatches", "valueBoolean": False}, {"name": "count", "valueInteger": 5},
        {"name": "practice", "valueString": practice.id}]}
    settings = {"name": "Fuzzed practice", "settings": {
        "portal_url": "https://portal.example/login", "portal_client_ids": ["c1"], "paths": ["signup"],
        "code_channels": ["email"], "office_pin": True, "invitation_days": 7,
        "proxy": {"full_access_under": 12, "teen_until": 18, "adult_proxy_days": 365}, "certain_threshold": 0.9,
        "match_per_minute": 600}}
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": parameters, "request": {"method": "POST", "url": "Patient/$match"}},
        {"resource": bundle["entry"][0]["resource"]}]}
    csv = b"MRN,First Name,Last Name,DOB,Zip\nfz-c1,Ann,Zed,03/14/1979,97201\n"
    practice_vars = {"practice_id": practice.id}
    return {
        "health.healthz": plain, "health.readyz": plain, "health.metrics": plain, "openapi.document": plain,
        "pages.start": page("start", path_vars=practice_vars, post=False),
        "pages.terms": page("start", post=False), "pages.privacy": page("start", post=False),
        "pages.signup": page("start", ("given_name", "Fay"), ("family_name", "Zed"), ("birth_date", "02/03/1980"),
                             ("zip", "97201"), ("email", "fz@example.org"), path_vars=practice_vars),
        "pages.invitation_link": page("start", path_vars={"token": "t" * 32}, post=False),
        "pages.invitation_code": page("start", ("code", "K7QM-4XPD-2RWE"), path_vars=practice_vars),
        "pages.security_code": page("start", ("given_name", "Fay"), ("family_name", "Zed"),
                                    ("birth_date", "1980-02-03"), ("zip", "97201"), ("code", "ABCD-EFGH"),
                                    path_vars=practice_vars),
        "pages.connect": page("signed_in", path_vars=practice_vars, post=False),
        "pages.identify": page("identified", ("given_name", "Fay"), ("family_name", "Zed"),
                               ("birth_date", "02/03/1980"), ("zip", "97201")),
        "pages.prove": page("identified", ("method", "pin"), ("pin", "0000"), ("phone", "(555) 555-0111")),
        "pages.code": page("identified", ("code", "123456")),
        "pages.resend": page("identified", get=False),
        "pages.change_details": page("identified", get=False),
        "pages.after_proof": page("proven", post=False),
        "pages.create_account": page("proven", ("username", "fay.zed"), ("email", "fz@example.org"),
                                     ("password", "a long enough password"), ("confirm", "a long enough password"),
                                     ("accept", "yes")),
        "pages.existing": page("proven", ("answer-0", "rex")),
        "pages.existing_verify": page("proven", post=False),
        "pages.done": page("proven", post=False),
        "pages.continue_to_portal": page("proven", get=False),
        "pages.proxy": page("signed_in", ("code", "ABCD-EFGH"), ("birth_date", "02/03/2015"), path_vars=practice_vars),
        "pages.proxy_request": page("signed_in", ("given_name", "Kid"), ("family_name", "Zed"),
                                    ("birth_date", "02/03/2015"), ("relationship", "parent"), path_vars=practice_vars),
        "oidc.login": page("start", post=False),
        "oidc.callback": lambda: Endpoint([Request("GET", query=(("code", "c"), ("state", "s")))], accept=PAGE),
        "api.list_practices": api(Request("GET")),
        "api.show_practice": api(Request("GET")),
        "api.put_practice": api(Request("PUT", {"practice_id": f"fz-{uuid.uuid4().hex[:8]}"}, json=settings)),
        "api.import_roster": api(Request("POST", json={"rows": [row]}), Request("POST", json=bundle),
                                 Request("POST", raw_body=csv, content_type="text/csv"),
                                 Request("POST", query=(("on_error", "skip"),), json=bundle)),
        "api.show_entry": api(Request("GET", {"mrn": mrn})),
        "api.invite": api(Request("POST", json={"mrn": mrn})),
        "api.invitation_status": api(Request("GET", {"mrn": mrn})),
        "api.security_code": api(Request("POST", json={"mrn": mrn})),
        "api.proxy_code": api(Request("POST", json={"mrn": mrn, "relationship": "parent", "patient_agreed": True})),
        "api.proxy_requests": api(Request("GET")),
        "api.decide_proxy_request": api(Request("POST", {"request_id": str(uuid.uuid4()), "decision": "approve"},
                                                json={"patient_agreed": True})),
        "api.audit_trail": api(Request("GET", query=(("limit", "5"), ("action", "roster")))),
        "match_api.match": api(Request("POST", query=(("practice", practice.id),), json=parameters),
                               Request("POST", query=(("practice", practice.id),),
                                       json=bundle["entry"][0]["resource"]),
                               Request("POST", query=(("practice", practice.id),), json=batch)),
    }


def csrf(client) -> str:
    with client.session_transaction() as session:
        return session.get("csrf_token", "")


def test_no_endpoint_answers_bad_input_with_a_5xx_or_a_foreign_format(registration_server, registration_specs):
    failures, sent = fuzz(registration_server.app, registration_specs, formats)
    assert not failures, report("registration", failures, sent)
