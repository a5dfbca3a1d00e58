"""Requests are handled in batches (what the prefetch window holds): the local outbox takes a whole
batch in one call, yet every request is still sent once, a bad one fails alone, a repeat sends
nothing, the limits count the batch's own requests, and a stopping worker starts nothing new."""
from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from services.notifications.channels.base import Outgoing, TimedChannel, TransientDeliveryError
from services.notifications.channels.console import ConsoleOutbox
from services.notifications.db.models import LocalOutboxMessage
from services.notifications.domain.delivery import Deliverer, Limits, NotDelivered, NotStarted
from services.notifications.handlers import RequestHandler
from shared.messaging.consumer import Deferred, Delivery
from tests.notifications.conftest import dead_letters, notification, wait_for_status


def outbox_count(sessions, notification_id: str) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(LocalOutboxMessage)
                              .where(LocalOutboxMessage.notification_id == notification_id))


@pytest.fixture
def console_settings(settings):
    return dataclasses.replace(settings, sms_backend="console", email_backend="console", prefetch=50, batch_size=50)


def test_a_batch_goes_out_in_one_call_and_a_bad_request_fails_alone(amqp_url, queue, console_settings, worker,
                                                                     publish, state, sessions, caplog):
    caplog.set_level("INFO", logger="services.notifications")
    good = [notification("sms") for _ in range(20)]
    bad = notification("sms", variables={"minutes": 10})  # no code: it cannot be rendered
    expired = notification("sms", expires_in=timedelta(seconds=-1))
    for request in good[:10] + [bad, expired] + good[10:]:
        publish(request)  # all waiting before the worker starts: they arrive as one prefetch window
    worker(console_settings)
    assert all(wait_for_status(state, r["id"], "sent") for r in good)
    assert wait_for_status(state, bad["id"], "failed") and wait_for_status(state, expired["id"], "failed")
    assert [outbox_count(sessions, r["id"]) for r in good] == [1] * 20
    assert all(state(r["id"]).attempts == 1 and state(r["id"]).provider_ref for r in good)
    assert outbox_count(sessions, bad["id"]) == 0 and outbox_count(sessions, expired["id"]) == 0
    assert "expired" in state(expired["id"]).last_error
    [dead] = dead_letters(amqp_url, queue)
    assert dead.payload["id"] == bad["id"] and dead.headers["x-carekey-dead-reason"].startswith("permanent")
    calls = [r for r in caplog.records if r.getMessage() == "provider call" and getattr(r, "messages", 1) > 1]
    assert calls, "the local outbox took several requests in one call"
    handled = [r for r in caplog.records if r.getMessage() == "notification handled"]
    assert len(handled) == 21, "one log line per handled request (the 20 sent and the expired one)"


def test_redelivered_and_repeated_requests_in_a_batch_send_nothing_twice(console_settings, worker, publish,
                                                                          state, sessions):
    first = [notification("sms") for _ in range(5)]
    for request in first + first[:2]:  # two repeats inside the first batch
        publish(request)
    w = worker(console_settings)
    assert all(wait_for_status(state, r["id"], "sent") for r in first)
    for request in first:  # the broker delivers the whole batch again
        publish(request)
    later = notification("sms")
    publish(later)
    assert wait_for_status(state, later["id"], "sent")
    wait_for_status(state, first[0]["id"], "never", timeout=1.0)
    assert [outbox_count(sessions, r["id"]) for r in first + [later]] == [1] * 6
    assert all(state(r["id"]).attempts == 1 for r in first)
    assert w.thread.is_alive()


def test_limits_count_the_batch_own_requests(console_settings, worker, publish, state, sessions):
    recipient = {"phone": "+1555" + str(uuid.uuid4().int)[:7]}
    requests = [notification("sms", recipient=recipient) for _ in range(5)]
    for request in requests:
        publish(request)
    worker(dataclasses.replace(console_settings, per_recipient_hour=3))
    assert all(wait_for_status(state, r["id"], "sent", "failed") for r in requests)
    statuses = [state(r["id"]).status for r in requests]
    assert statuses.count("sent") == 3 and statuses.count("failed") == 2
    assert sum(outbox_count(sessions, r["id"]) for r in requests) == 3


class DyingOutbox(ConsoleOutbox):
    """The local outbox, in a worker that dies right after the messages were appended (before ``sent``
    is recorded): the call appends, then fails."""

    def _send_many(self, messages):
        super()._send_many(messages)
        raise RuntimeError("the worker died here")


def test_a_batch_appended_by_a_worker_that_died_goes_out_once_on_redelivery(sessions, state):
    batch = requests(4)
    ids = [notification_id for notification_id, _ in batch]
    dying = Deliverer(sessions, {"sms": DyingOutbox("sms", sessions)}, Limits(per_hour=10, per_day=30))
    assert all(isinstance(outcome, RuntimeError) for outcome in dying.deliver_many(batch))
    assert {state(i).status for i in ids} == {"sending"}, "appended, never recorded"

    redelivered = Deliverer(sessions, {"sms": ConsoleOutbox("sms", sessions)}, Limits(per_hour=10, per_day=30))
    assert redelivered.deliver_many(batch) == ["sent"] * 4
    assert [outbox_count(sessions, i) for i in ids] == [1] * 4, "no second copy in the local outbox"
    assert all(state(i).attempts == 2 and state(i).provider_ref.startswith("local-") for i in ids)


class FlakyOutbox(TimedChannel):
    """Takes batches; a call carrying a poisoned message raises and delivers nothing (as a rolled
    back INSERT), and the poisoned message alone fails transiently."""

    name = "sms"
    batch_limit = 10

    def __init__(self, poisoned: set[str]) -> None:
        self.poisoned = poisoned
        self.calls: list[list[str]] = []
        self.delivered: list[str] = []

    def _send_many(self, messages):
        self.calls.append([m.notification_id for m in messages])
        if any(m.notification_id in self.poisoned for m in messages):
            raise RuntimeError("the batch was refused")
        self.delivered += [m.notification_id for m in messages]
        return [f"ref-{m.notification_id[:8]}" for m in messages]

    def _send(self, message: Outgoing):
        self.calls.append([message.notification_id])
        if message.notification_id in self.poisoned:
            raise TransientDeliveryError("provider timed out")
        self.delivered.append(message.notification_id)
        return f"ref-{message.notification_id[:8]}"


def requests(n: int) -> list[tuple[str, dict]]:
    handler_input = [notification("sms") for _ in range(n)]
    return [(r["id"], RequestHandler._request(r)) for r in handler_input]


def test_a_failed_batch_call_falls_back_to_one_by_one(sessions, state):
    batch = requests(6)
    poisoned = batch[2][0]
    channel = FlakyOutbox({poisoned})
    deliverer = Deliverer(sessions, {"sms": channel}, Limits(per_hour=10, per_day=30))

    outcomes = deliverer.deliver_many(batch)

    assert len(channel.calls[0]) == 6, "first one call for the whole batch"
    assert sorted(channel.delivered) == sorted(i for i, _ in batch if i != poisoned), "the others once each"
    assert [o for o in outcomes if o != "sent"] == [outcomes[2]]
    assert isinstance(outcomes[2], NotDelivered) and not outcomes[2].permanent
    assert state(poisoned).status == "queued" and state(poisoned).attempts == 1
    assert all(state(i).status == "sent" and state(i).provider_ref for i, _ in batch if i != poisoned)

    channel.poisoned.clear()
    again = deliverer.deliver_many(batch)  # redelivery of all six, the retry among them
    assert again == ["sent"] * 6
    assert sorted(channel.delivered) == sorted(i for i, _ in batch), "only the retried one went out again"
    assert state(poisoned).attempts == 2


def test_a_stopping_worker_starts_no_new_chunk_and_leaves_it_untouched(sessions, state):
    batch = requests(15)  # two chunks of the channel's 10
    channel = FlakyOutbox(set())
    deliverer = Deliverer(sessions, {"sms": channel}, Limits(per_hour=10, per_day=30))
    answers = iter([True, False])

    outcomes = deliverer.deliver_many(batch, keep_going=lambda: next(answers))

    assert outcomes[:10] == ["sent"] * 10
    assert all(isinstance(o, NotStarted) for o in outcomes[10:])
    assert all(state(i) is None for i, _ in batch[10:]), "nothing recorded: redelivered as new"
    handler = RequestHandler(deliverer)
    envelopes = [notification("sms") for _ in range(2)]
    verdicts = handler.handle_batch([Delivery(e, "req", None) for e in envelopes], lambda: False)
    assert all(isinstance(v, Deferred) for v in verdicts), "the consumer puts them back on the queue"
