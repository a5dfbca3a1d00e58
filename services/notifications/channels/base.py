"""The one port every delivery channel implements, and the errors that decide retry or fail."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Protocol, Sequence

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


DeliveryError = TransientDeliveryError | PermanentDeliveryError


class Channel(Protocol):
    name: str
    batch_limit: int  # messages one call to send_many may carry: 1 for a provider across the network

    def send(self, message: Outgoing) -> str | None:
        """Deliver; returns the provider's reference. Raises a Transient- or PermanentDeliveryError."""

    def send_many(self, messages: Sequence[Outgoing]) -> list[str | None | DeliveryError]:
        """Deliver up to ``batch_limit`` messages: per message its reference or its delivery error.
        A call that raises anything else delivered none of them."""

    def close(self) -> None:
        """Let go of what the channel keeps open between messages (a connection); the worker is stopping."""


class TimedChannel:
    """Base for provider clients: times and logs each call; subclasses implement ``_send``, and a
    channel whose one call can carry several messages (all or none) also ``_send_many``."""

    name = "channel"
    batch_limit = 1

    def send_many(self, messages: Sequence[Outgoing]) -> list[str | None | DeliveryError]:
        if len(messages) > self.batch_limit:
            raise ValueError(f"{self.name} takes at most {self.batch_limit} messages per call")
        if len(messages) == 1:
            try:
                return [self.send(messages[0])]
            except (TransientDeliveryError, PermanentDeliveryError) as exc:
                return [exc]
        return self._timed(lambda: self._send_many(messages), messages=len(messages))

    def _send_many(self, messages: Sequence[Outgoing]) -> list[str | None]:
        raise NotImplementedError

    def close(self) -> None:
        pass  # nothing kept open

    def send(self, message: Outgoing) -> str | None:
        return self._timed(lambda: self._send(message), notification_id=message.notification_id)

    def _timed(self, call, **fields):
        """``call()``, timed and logged with its outcome (sent, transient, permanent or error)."""
        started = time.perf_counter()
        outcome = "error"
        try:
            result = call()
            outcome = "sent"
            return result
        except TransientDeliveryError:
            outcome = "transient"
            raise
        except PermanentDeliveryError:
            outcome = "permanent"
            raise
        finally:
            log.info("provider call", extra={"channel": self.name, "outcome": outcome, **fields,
                                             "ms": round((time.perf_counter() - started) * 1000, 1)})

    def _send(self, message: Outgoing) -> str | None:
        raise NotImplementedError
