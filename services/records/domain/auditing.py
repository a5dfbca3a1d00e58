"""Every request for records ends in the access log — success, refusal or failure — before any
data leaves. Who (subject and client), for whom (each patient judged, or the token's own
context when refused earlier), what (type, ids or the search), which practice, when, outcome."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Callable, Iterator

from services.records.domain.access import Target
from services.records.domain.context import TokenContext
from services.records.errors import RecordsError
from services.records.interfaces import AccessLog, AccessRecord


@dataclass
class Attempt:
    ctx: TokenContext
    action: str                      # read | search
    resource_type: str
    query: str | None = None
    asked_ids: tuple[str, ...] = ()
    found: dict[Target, list[str]] = field(default_factory=dict)

    def judged(self, target: Target) -> None:
        self.found.setdefault(target, [])

    def served(self, target: Target, resource_id: str) -> None:
        self.found.setdefault(target, []).append(resource_id)


class Auditor:
    def __init__(self, log: AccessLog, request_id: Callable[[], str | None] = lambda: None) -> None:
        self.log, self.request_id = log, request_id

    @contextlib.contextmanager
    def audited(self, attempt: Attempt) -> Iterator[Attempt]:
        try:
            yield attempt
        except RecordsError as error:
            self.record(attempt, error.outcome, error.status)
            raise
        except Exception:
            self.record(attempt, "server_error", 500)
            raise
        else:
            self.record(attempt, "success", 200)

    def record(self, attempt: Attempt, outcome: str, status: int) -> None:
        ctx = attempt.ctx
        whom = [(t.practice, t.patient, t.link.relationship, tuple(ids) or (attempt.asked_ids if status >= 400 else ()))
                for t, ids in attempt.found.items()]
        if not whom:
            own = ctx.own_link
            whom = [(ctx.practice or "", ctx.patient or "", own.relationship if own else None, attempt.asked_ids)]
        self.log.record([AccessRecord(
            subject=ctx.subject, client_id=ctx.client_id, relationship=relationship, practice_id=practice,
            patient_id=patient, action=attempt.action, resource_type=attempt.resource_type, resource_ids=ids,
            query=attempt.query, outcome=outcome, status=status, request_id=self.request_id())
            for practice, patient, relationship, ids in whom])
