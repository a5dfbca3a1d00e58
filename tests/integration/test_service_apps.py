"""Every service starts from its app factory, reports health and readiness, serves metrics and
renders errors one way: problem details for APIs, a page for browsers, never a stack trace."""
from __future__ import annotations

import dataclasses
import threading
import uuid
from datetime import datetime, timezone

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from werkzeug.serving import make_server

from services import SERVICES, registry
from services.notifications.db.models import STATUSES, Notification
from shared.database import make_session_factory, transaction
from shared.http_client import PropagatingSession
from shared.logging import REQUEST_ID_HEADER, reset_request_id, set_request_id
from shared.messaging.outbox import enqueue
from tests.helpers import wait_until


def override(settings, **changes):
    """Replace base settings, also inside a service's own settings wrapper (identity's)."""
    if hasattr(settings, "base"):
        return dataclasses.replace(settings, base=dataclasses.replace(settings.base, **changes))
    return dataclasses.replace(settings, **changes)


@pytest.fixture(params=list(SERVICES))
def service(request):
    return request.param


@pytest.fixture
def client(suite, service):
    app = registry.create_app(service, suite.settings[service])

    @app.get("/_test/boom")
    def boom():
        raise RuntimeError("secret internal detail /etc/carekey")

    return app.test_client()


def test_healthz_answers_alive(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}


def test_readyz_checks_database_and_broker(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.json
    assert response.json == {"status": "ready", "checks": {"database": "ok", "broker": "ok"}}


def test_readyz_is_503_when_the_database_is_unreachable(suite, service):
    broken = override(suite.settings[service], database_url="postgresql://nobody@127.0.0.1:1/nothing")
    response = registry.create_app(service, broken).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"] == {"database": "unreachable", "broker": "ok"}
    assert "127.0.0.1:1" not in response.get_data(as_text=True)


def test_readyz_is_503_when_the_broker_is_unreachable(suite, service):
    settings = suite.settings[service]
    broken = override(settings, common=dataclasses.replace(settings.common, amqp_url="amqp://guest:guest@127.0.0.1:1//"))
    response = registry.create_app(service, broken).test_client().get("/readyz")
    assert response.status_code == 503 and response.json["checks"]["broker"] == "unreachable"


def test_metrics_are_prometheus_text_counting_requests(client, service):
    client.get("/healthz")
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    assert f'carekey_http_requests_total{{endpoint="/healthz",method="GET",service="{service}",status="200"}}' in text
    assert "carekey_http_request_seconds_bucket" in text


def table_rows(client, service: str) -> dict[tuple[str, str], float]:
    """The carekey_table_rows samples of one scrape: (table, state) -> rows."""
    text = client.get("/metrics").get_data(as_text=True)
    return {(sample.labels["table"], sample.labels["state"]): sample.value
            for family in text_string_to_metric_families(text) if family.name == "carekey_table_rows"
            for sample in family.samples if sample.labels["service"] == service}


def test_metrics_show_the_outbox_rows_pending_and_published(suite, client, service):
    outbox = registry.outbox(service)
    with transaction(make_session_factory(suite.engines[service])) as session:
        published = enqueue(session, outbox, "test.metrics.counted", {})["id"]
        enqueue(session, outbox, "test.metrics.counted", {})
        session.execute(outbox.update().where(outbox.c.id == published).values(published_at=datetime.now(timezone.utc)))
    with suite.engines[service].connect() as conn:
        pending = conn.execute(select(func.count()).where(outbox.c.published_at.is_(None))).scalar_one()
        total = conn.execute(select(func.count()).select_from(outbox)).scalar_one()
    expected = {("outbox", "pending"): pending, ("outbox", "published"): total - pending}
    assert wait_until(lambda: {k: v for k, v in table_rows(client, service).items() if k[0] == "outbox"} == expected)


def test_metrics_show_the_notifications_by_status(suite):
    sessions = make_session_factory(suite.engines["notifications"])
    moment = datetime.now(timezone.utc)
    with transaction(sessions) as session:
        for status in ("sent", "sent", "failed"):
            session.add(Notification(id=str(uuid.uuid4()), channel="email", template="invitation",
                                     recipient_digest="0" * 64, recipient_hint="p•••@example.org", status=status,
                                     attempts=1, created_at=moment, updated_at=moment))
    with sessions() as session:
        counted = dict(session.execute(select(Notification.status, func.count()).group_by(Notification.status)).all())
    client = registry.create_app("notifications", suite.settings["notifications"]).test_client()
    expected = {("notifications", status): counted.get(status, 0) for status in STATUSES}
    assert wait_until(lambda: {k: v for k, v in table_rows(client, "notifications").items()
                               if k[0] == "notifications"} == expected)


def test_metrics_answer_when_the_database_is_unreachable(suite, service):
    broken = override(suite.settings[service], database_url="postgresql://nobody@127.0.0.1:1/nothing")
    client = registry.create_app(service, broken).test_client()
    for _ in range(2):  # the first starts a count that fails; the second answers all the same
        response = client.get("/metrics")
        assert response.status_code == 200 and "carekey_http_requests_total" in response.get_data(as_text=True)
    assert table_rows(client, service) == {}


def test_api_errors_are_problem_details(client):
    response = client.get("/no/such/thing", headers={"Accept": "application/json"})
    assert response.status_code == 404 and response.mimetype == "application/problem+json"
    assert response.json["status"] == 404 and response.json["code"] == "not_found"
    assert response.json["title"] and response.json["detail"]


def test_browser_errors_are_a_human_page(client):
    response = client.get("/no/such/thing", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert response.status_code == 404 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "<h1>Not found</h1>" in page and 'lang="en"' in page


def test_method_not_allowed_keeps_allow_header(client):
    response = client.post("/healthz")
    assert response.status_code == 405 and "GET" in response.headers["Allow"]


@pytest.mark.parametrize("accept", ["application/json", "text/html"])
def test_unexpected_error_is_generic_with_no_trace(client, accept, caplog):
    response = client.get("/_test/boom", headers={"Accept": accept})
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "secret internal detail" not in body and "Traceback" not in body and "RuntimeError" not in body
    assert any(record.exc_info for record in caplog.records), "the detail goes to the log"


def test_request_id_is_echoed_or_made(client):
    given = client.get("/healthz", headers={REQUEST_ID_HEADER: "abc-123-def-456"})
    assert given.headers[REQUEST_ID_HEADER] == "abc-123-def-456"
    made = client.get("/healthz", headers={REQUEST_ID_HEADER: "bad id; <script>alert(1)</script>"})
    assert made.headers[REQUEST_ID_HEADER] != "bad id; <script>alert(1)</script>"
    assert len(made.headers[REQUEST_ID_HEADER]) == 32


def test_request_id_is_carried_on_outgoing_http_calls(suite):
    """One service calling another passes the request id along."""
    app = registry.create_app("records", suite.settings["records"])
    seen = []

    @app.get("/_test/echo")
    def echo():
        from flask import request
        seen.append(request.headers.get(REQUEST_ID_HEADER))
        return {"ok": True}

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    token = set_request_id("req-carried-0001")
    try:
        response = PropagatingSession().get(f"http://127.0.0.1:{server.server_port}/_test/echo")
    finally:
        reset_request_id(token)
        server.shutdown()
    assert response.status_code == 200
    assert seen == ["req-carried-0001"] and response.headers[REQUEST_ID_HEADER] == "req-carried-0001"


def test_nul_characters_are_refused_before_they_reach_postgresql(suite):
    """PostgreSQL refuses NUL in text; every service answers 400 up front instead of failing in a query."""
    from services import registry
    for service in ("identity", "registration", "records"):
        app = registry.create_app(service, suite.settings[service])
        client = app.test_client()
        assert client.get("/healthz?x=a%00b").status_code == 400
        assert client.post("/anything", data={"name": "a\x00b"}).status_code == 400
        response = client.post("/anything", data=b'{"name": "a\\u0000b"}', content_type="application/json")
        assert response.status_code == 400 and "NUL" in response.get_json()["detail"]
