"""Whose records a token may read right now: its own patient context, or — for the cross-practice
view — every linked patient the practice's rules allow. Applies :mod:`policy` with what only the
records know (the patient's birth date, the practice's rules, a teen's consent)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Callable

from services.records.domain.cache import TtlCache
from services.records.domain.context import TokenContext
from services.records.domain.policy import PROXY, Link, PracticeRules, cross_practice_links, may_act_for
from services.records.errors import Forbidden, ResourceNotFound, SourceUnavailable
from services.records.interfaces import PracticeDirectory

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    """A patient at a practice this token may read, with the rules that practice applies."""

    link: Link
    rules: PracticeRules

    @property
    def practice(self) -> str:
        return self.link.practice

    @property
    def patient(self) -> str:
        return self.link.patient


class Access:
    def __init__(self, sources, directory: PracticeDirectory, cache: TtlCache,
                 today: Callable[[], date] = date.today) -> None:
        self.sources, self.directory, self.cache, self.today = sources, directory, cache, today

    def own(self, ctx: TokenContext) -> Target:
        """The token's patient context, judged; Forbidden when there is none or it is not allowed."""
        link = ctx.own_link
        if link is None:
            raise Forbidden("This access token has no patient context this account may act for.")
        return self.judge(link)

    def linked(self, ctx: TokenContext) -> tuple[list[Target], list[str]]:
        """Every linked patient allowed now, and the practices that could not be reached.

        A link that is not allowed (a teen's proxy without consent, a patient the practice does
        not know) is left out without a word: the view says nothing about what it does not show.
        """
        targets, unavailable = [], []
        for link in cross_practice_links(list(ctx.links)):
            try:
                targets.append(self.judge(link))
            except (Forbidden, ResourceNotFound):
                continue
            except SourceUnavailable:
                unavailable.append(link.practice)
        return targets, sorted(set(unavailable))

    def judge(self, link: Link) -> Target:
        rules = self.directory.rules(link.practice)
        patient = self.patient_record(link.practice, link.patient)
        if patient is None:
            raise ResourceNotFound()
        teen_agreed = link.relationship == PROXY and self.directory.teen_agreed(link.practice, link.patient)
        decision = may_act_for(link, rules, birth_date=_birth_date(patient), teen_agreed=teen_agreed,
                               today=self.today())
        if not decision.allowed:
            log.info("records access refused", extra={"practice": link.practice, "reason": decision.reason})
            raise Forbidden()
        return Target(link, rules)

    def patient_record(self, practice_id: str, patient_id: str) -> dict | None:
        source = self.sources.for_practice(practice_id, "Patient")
        found = self.cache.get_or_load(practice_id, patient_id, ("Patient", "read", patient_id),
                                       lambda: source.resource(practice_id, "Patient", patient_id))
        if not isinstance(found, dict) or found.get("resourceType") != "Patient" or found.get("id") != patient_id:
            return None
        return found


def _birth_date(patient: dict) -> date | None:
    value = patient.get("birthDate")
    try:
        return date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        return None
