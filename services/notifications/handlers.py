"""Decodes notification requests, hands them to the deliverer, and tells the consumer what to do with
each: nothing raised (ack), PermanentError (dead letter), RetryLater (retry), Deferred (back to the queue)."""
from __future__ import annotations

import logging
from typing import Any, Callable, Sequence

from marshmallow import ValidationError

from services.notifications.domain.delivery import Deliverer, NotDelivered, NotStarted
from shared.logging import get_request_id, reset_request_id, set_request_id
from shared.messaging.consumer import Deferred, Delivery, PermanentError
from shared.messaging.notifications import ACCEPTED_VERSIONS, EVENT_TYPE, parse_request

log = logging.getLogger(__name__)


class RetryLater(Exception):
    """A transient provider failure; the consumer retries with backoff."""


class RequestHandler:
    def __init__(self, deliverer: Deliverer) -> None:
        self.deliverer = deliverer

    def __call__(self, envelope: dict[str, Any]) -> None:
        [outcome] = self.handle_batch([Delivery(envelope, get_request_id(), None)], lambda: True)  # type: ignore[arg-type]
        if outcome is not None:
            raise outcome

    def handle_batch(self, batch: Sequence[Delivery], keep_going: Callable[[], bool]) -> list[Exception | None]:
        outcomes: list[Exception | None] = [None] * len(batch)
        valid: list[tuple[int, str, dict[str, Any]]] = []
        for index, delivery in enumerate(batch):
            try:
                valid.append((index, str(delivery.envelope["id"]), self._request(delivery.envelope)))
            except PermanentError as exc:
                outcomes[index] = exc
        delivered = self.deliverer.deliver_many([(notification_id, request) for _, notification_id, request in valid],
                                                keep_going)
        for (index, notification_id, request), outcome in zip(valid, delivered):
            outcomes[index] = self._verdict(outcome)
            if outcomes[index] is None:
                token = set_request_id(batch[index].request_id)
                try:
                    log.info("notification handled", extra={"notification_id": notification_id, "status": outcome,
                                                            "template": request["template"],
                                                            "channel": request["channel"]})
                finally:
                    reset_request_id(token)
        return outcomes

    @staticmethod
    def _request(envelope: dict[str, Any]) -> dict[str, Any]:
        if envelope["type"] != EVENT_TYPE or envelope["version"] not in ACCEPTED_VERSIONS:
            raise PermanentError(f"unsupported message {envelope['type']} v{envelope['version']}")
        try:
            return parse_request(envelope["payload"])
        except ValidationError as exc:
            raise PermanentError(f"invalid notification request: {sorted(exc.messages)}") from None

    @staticmethod
    def _verdict(outcome: str | Exception) -> Exception | None:
        if isinstance(outcome, NotStarted):
            return Deferred()
        if isinstance(outcome, NotDelivered):
            return PermanentError(str(outcome)) if outcome.permanent else RetryLater(str(outcome))
        if isinstance(outcome, Exception):
            return outcome  # unexpected: retried
        return None

    def give_up(self, envelope: dict[str, Any], reason: str) -> None:
        self.deliverer.give_up(str(envelope["id"]), reason)

    def close(self) -> None:
        self.deliverer.close()
