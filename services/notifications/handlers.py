"""Turns a notification request into delivery work; idempotent on the message id."""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from services.notifications.db.models import inbox
from shared.messaging.inbox import first_delivery

log = logging.getLogger(__name__)


class RequestHandler:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory

    def __call__(self, envelope: dict[str, Any]) -> None:
        message_id = str(envelope["id"])
        with self.session_factory() as session, session.begin():
            if not first_delivery(session, inbox, message_id, envelope["type"]):
                log.info("duplicate notification request ignored", extra={"message_id": message_id})
                return
            log.info("notification request accepted", extra={"message_id": message_id, "type": envelope["type"]})
