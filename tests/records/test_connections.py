"""A request's single statements share one autocommit connection: each is still durable when it
returns, a failed one does not take the access-log row that records the failure down with it, and
the connection is back in the pool when the request ends."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from services.records.db.connections import ScopedConnections
from services.records.db.repositories import SqlAccessLog, SqlPracticeDirectory
from services.records.interfaces import AccessRecord
from shared.database import single_statements
from tests.records.conftest import bearer


def entry(patient: str, outcome: str = "success", status: int = 200) -> AccessRecord:
    return AccessRecord(subject="sub", client_id="app", relationship="self", practice_id="scoped",
                        patient_id=patient, action="search", resource_type="Observation", resource_ids=(),
                        query="patient=x", outcome=outcome, status=status, request_id=None)


@pytest.fixture
def scoped(records_db):
    connections = ScopedConnections(single_statements(records_db).kw["bind"])
    yield connections
    connections.close_scope()


def test_an_access_log_row_is_committed_before_the_request_ends(records_db, scoped):
    patient = uuid.uuid4().hex
    scoped.open_scope()
    SqlAccessLog(records_db, scoped).record([entry(patient)])
    elsewhere = SqlAccessLog(records_db)  # another connection: sees only what is committed
    assert [r.patient_id for _id, _at, r in elsewhere.for_patient("scoped", patient)] == [patient]


def test_a_failed_statement_gives_its_connection_back_and_the_next_one_starts_afresh(records_db, scoped):
    patient = uuid.uuid4().hex
    scoped.open_scope()
    with pytest.raises(DBAPIError):
        with scoped.connect() as conn:
            conn.execute(text("SELECT * FROM no_such_table"))  # fails on PostgreSQL and SQLite alike
    SqlAccessLog(records_db, scoped).record([entry(patient, "server_error", 500)])
    (logged,) = SqlAccessLog(records_db).for_patient("scoped", patient)
    assert logged[2].outcome == "server_error"


def test_within_a_scope_statements_share_a_connection_and_outside_each_has_its_own(records_db, scoped):
    directory = SqlPracticeDirectory(records_db, scoped)
    checkouts = []
    listener = lambda *_args: checkouts.append(1)  # noqa: E731
    event.listen(scoped.engine.pool, "checkout", listener)
    try:
        directory.rules("nowhere")
        directory.rules("nowhere")
        assert len(checkouts) == 2
        scoped.open_scope()
        directory.rules("nowhere")
        directory.teen_agreed("nowhere", "nobody")
        assert len(checkouts) == 3
        scoped.close_scope()
        directory.rules("nowhere")
        assert len(checkouts) == 4
    finally:
        event.remove(scoped.engine.pool, "checkout", listener)


def test_a_read_checks_out_one_connection_and_returns_it(records, records_app, reader):
    _practice, chart, token = reader
    engine = records_app.extensions["carekey.records"].connections.engine
    path = f"/Observation?patient={chart.patient_id}"
    assert records.get(path, headers=bearer(token)).status_code == 200  # the store's answers now cached
    checkouts, checkins = [], []
    on_out, on_in = (lambda *_a: checkouts.append(1)), (lambda *_a: checkins.append(1))  # noqa: E731
    event.listen(engine.pool, "checkout", on_out)
    event.listen(engine.pool, "checkin", on_in)
    try:
        answer = records.get(path, headers=bearer(token))
    finally:
        event.remove(engine.pool, "checkout", on_out)
        event.remove(engine.pool, "checkin", on_in)
    assert answer.status_code == 200
    assert len(checkouts) == 1 and len(checkins) == 1  # the rules read and the access-log row, one connection
