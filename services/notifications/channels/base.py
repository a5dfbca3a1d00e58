"""The one port every delivery channel implements, and the errors that decide retry or fail."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outgoing:
    """A rendered message for one recipient. Its text may hold a code: never log it."""
    notification_id: str
    channel: str  # email | sms | voice
    to: str
    subject: str | None
    text: str
    html: str | None = None
    twiml: str | None = None


class TransientDeliveryError(Exception):
    """The provider may accept it later: timeouts, connection errors, 5xx, 429."""


class PermanentDeliveryError(Exception):
    """The provider will never accept it: invalid number, opted out, other 4xx."""


class Channel(Protocol):
    name: str

    def send(self, message: Outgoing) -> str | None:
        """Deliver; returns the provider's reference. Raises a Transient- or PermanentDeliveryError."""


class TimedChannel:
    """Base for provider clients: times and logs each call; subclasses implement ``_send``."""

    name = "channel"

    def send(self, message: Outgoing) -> str | None:
        started = time.perf_counter()
        outcome = "error"
        try:
            reference = self._send(message)
            outcome = "sent"
            return reference
        except TransientDeliveryError:
            outcome = "transient"
            raise
        except PermanentDeliveryError:
            outcome = "permanent"
            raise
        finally:
            log.info("provider call", extra={"channel": self.name, "outcome": outcome,
                                             "notification_id": message.notification_id,
                                             "ms": round((time.perf_counter() - started) * 1000, 1)})

    def _send(self, message: Outgoing) -> str | None:
        raise NotImplementedError
