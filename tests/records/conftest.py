"""Records fixtures: the real identity app served over HTTP (so the gateway fetches its JWKS and
introspects there), real access tokens from the code flow, and charts written to the store."""
from __future__ import annotations

import dataclasses
import threading
import uuid
from datetime import date
from types import SimpleNamespace
from typing import NamedTuple

import pytest
from werkzeug.serving import make_server

from services import registry
from services.identity.domain import accounts
from services.demo.charts import Chart, standard_chart
from services.records.db.repositories import save_practice, set_teen_consent
from services.records.sources.store import put
from shared.database import make_session_factory, transaction
from tests.identity.conftest import Browser, callback_params, identity_db, make_account, make_client, pkce_pair  # noqa: F401  (fixtures used here)
from tests.identity.steps import exchange

SCOPE = "openid launch/patient patient/*.rs"


@pytest.fixture(scope="session")
def identity_server(suite):
    """Identity on a free port; its issuer (public URL) is the address it is served at."""
    holder = {}
    server = make_server("127.0.0.1", 0, lambda environ, start: holder["app"](environ, start), threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    settings = suite.settings["identity"]
    app = registry.create_app("identity", dataclasses.replace(
        settings, base=dataclasses.replace(settings.base, public_url=url)))
    app.testing = True
    holder["app"] = app
    app.extensions["carekey.identity"].keyring.ensure()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield SimpleNamespace(url=url, app=app)
    server.shutdown()


@pytest.fixture(scope="session")
def identity_app(identity_server):
    return identity_server.app


@pytest.fixture(scope="session")
def records_settings(suite, identity_server):
    return dataclasses.replace(suite.settings["records"], identity_issuer=identity_server.url)


@pytest.fixture(scope="session")
def records_app(records_settings):
    app = registry.create_app("records", records_settings)
    app.testing = True
    return app


@pytest.fixture
def records(records_app):
    return records_app.test_client()


@pytest.fixture
def records_db(suite):
    return make_session_factory(suite.engines["records"])


def born(age: int, today: date | None = None) -> date:
    """A birth date that makes someone *age* today (born on 1 March, or 28 February)."""
    today = today or date.today()
    birthday = date(today.year - age, 3, 1)
    return birthday if (3, 1) <= (today.month, today.day) else birthday.replace(year=birthday.year - 1)


@pytest.fixture
def practices(records_db):
    """Practices of this test only, with their rules: ``practices.new(notes=False)`` → its id."""
    def new(*, notes: bool = True, proxy_full_under: int = 12, adult_at: int = 18) -> str:
        practice_id = f"pr-{uuid.uuid4().hex[:10]}"
        with transaction(records_db) as session:
            save_practice(session, practice_id, name=f"Practice {practice_id}", notes_enabled=notes,
                          proxy_full_under=proxy_full_under, adult_at=adult_at)
        return practice_id
    return SimpleNamespace(new=new)


@pytest.fixture
def charts(records_db):
    """``charts.new(practice, age=..)`` writes a full chart to the store and returns it."""
    def new(practice: str, *, age: int = 40, given: str = "Pat", family: str | None = None,
            teen_consent: bool = False, birth_date: date | None = None) -> Chart:
        patient_id = f"pt-{uuid.uuid4().hex[:10]}"
        chart = standard_chart(practice, patient_id, given=given, family=family or f"Lee{patient_id[-4:]}",
                               birth_date=birth_date or born(age))
        store(records_db, chart)
        if teen_consent:
            with transaction(records_db) as session:
                set_teen_consent(session, practice, patient_id, True)
        return chart
    return SimpleNamespace(new=new)


def store(records_db, chart: Chart) -> None:
    with transaction(records_db) as session:
        for resource, shared in chart.entries:
            put(session, chart.practice, resource, shared=shared)


@dataclasses.dataclass
class Person:
    account: object
    links: list[tuple[str, str, str]]


@pytest.fixture
def people(identity_db, make_account):
    """``people.new((practice, patient, "self"), ...)``: an account linked to those patients."""
    def new(*links: tuple[str, str, str], valid_until=None) -> Person:
        account = make_account()
        with transaction(identity_db) as session:
            merged = session.merge(account)
            for practice, patient, relationship in links:
                accounts.link_patient(session, merged, practice_id=practice, patient_id=patient,
                                      relationship=relationship, display_name=f"{patient} name",
                                      valid_until=valid_until)
        return Person(account, list(links))
    return SimpleNamespace(new=new)


@pytest.fixture
def tokens(identity_app, make_client):
    """``tokens.issue(person, practice, patient=None, scope=SCOPE)``: an access token from the real
    code flow at a portal of *practice*, choosing *patient* when the account has several there."""
    identity_api = identity_app.test_client()

    def issue(person: Person, practice: str, patient: str | None = None, scope: str = SCOPE) -> str:
        return issue_with_client(person, practice, patient, scope)[0]

    def issue_with_client(person: Person, practice: str, patient: str | None = None, scope: str = SCOPE):
        client = make_client(practice_id=practice, scope=f"{SCOPE} {scope}")
        user = Browser(identity_app)
        verifier, challenge = pkce_pair()
        response, _ = user.authorize(client, scope=scope, code_challenge=challenge, code_challenge_method="S256")
        page = user.follow(user.login(user.follow(response), person.account.username))
        if page.status_code == 200:  # "Whose records?"
            uid = page.request.path.rsplit("/", 1)[-1]
            page = user.follow(user.http.post(f"/interaction/{uid}/select",
                                              data={"patient_id": patient, "csrf_token": user.csrf()}))
        token = exchange(identity_api, client, callback_params(page)["code"], verifier)
        assert token.status_code == 200, token.json
        return token.json["access_token"], client, token.json

    return SimpleNamespace(issue=issue, issue_with_client=issue_with_client)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ids(bundle: dict, resource_type: str | None = None) -> set[str]:
    return {e["resource"]["id"] for e in bundle.get("entry", [])
            if resource_type is None or e["resource"]["resourceType"] == resource_type}


def of_type(chart: Chart, resource_type: str) -> list[dict]:
    return [r for r, _ in chart.entries if r["resourceType"] == resource_type]


class Reader(NamedTuple):
    practice: str
    chart: Chart
    token: str


@pytest.fixture
def sign_in(practices, charts, people, tokens):
    """``sign_in(notes=.., scope=..)``: a patient of a new practice, signed in at its portal."""
    def make(*, notes: bool = True, scope: str = SCOPE) -> Reader:
        practice = practices.new(notes=notes)
        chart = charts.new(practice)
        return Reader(practice, chart, tokens.issue(people.new((practice, chart.patient_id, "self")), practice,
                                                    scope=scope))
    return make


@pytest.fixture
def reader(sign_in) -> Reader:
    return sign_in()
