"""Decodes a notification request, hands it to the deliverer, and tells the consumer what to do."""
from __future__ import annotations

import logging
from typing import Any

from marshmallow import ValidationError

from services.notifications.domain.delivery import Deliverer, NotDelivered
from shared.messaging.consumer import PermanentError
from shared.messaging.notifications import ACCEPTED_VERSIONS, EVENT_TYPE, parse_request

log = logging.getLogger(__name__)


class RetryLater(Exception):
    """A transient provider failure; the consumer retries with backoff."""


class RequestHandler:
    def __init__(self, deliverer: Deliverer) -> None:
        self.deliverer = deliverer

    def __call__(self, envelope: dict[str, Any]) -> None:
        if envelope["type"] != EVENT_TYPE or envelope["version"] not in ACCEPTED_VERSIONS:
            raise PermanentError(f"unsupported message {envelope['type']} v{envelope['version']}")
        try:
            request = parse_request(envelope["payload"])
        except ValidationError as exc:
            raise PermanentError(f"invalid notification request: {sorted(exc.messages)}") from None
        notification_id = str(envelope["id"])
        try:
            status = self.deliverer.deliver(notification_id, request)
        except NotDelivered as exc:
            if exc.permanent:
                raise PermanentError(str(exc)) from None
            raise RetryLater(str(exc)) from None
        log.info("notification handled", extra={"notification_id": notification_id, "status": status,
                                                "template": request["template"], "channel": request["channel"]})

    def give_up(self, envelope: dict[str, Any], reason: str) -> None:
        self.deliverer.give_up(str(envelope["id"]), reason)
