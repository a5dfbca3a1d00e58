"""Reads and searches: the one place a request for records is answered, and audited.

For every request, in order:

1. the search parameters (or the paging link, which must have been made for this token) are valid;
2. the scopes allow the type and action (else 403 ``insufficient_scope``);
3. whose records (:mod:`access`): the token's patient, or its links in the cross-practice view;
   ``patient=``/``subject=`` may only name those patients (else 403);
4. each resource is of the type, in that patient's compartment alone, let out by the practice
   (:mod:`records`) and admitted by a granular scope; what fails is "not found" (404);
5. the outcome — refusals too — is in the access log before anything is returned.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from services.records.domain import paging
from services.records.domain import search as search_rules
from services.records.domain.access import Access, Target
from services.records.domain.auditing import Attempt, Auditor
from services.records.domain.context import TokenContext
from services.records.domain.cursor import CursorCodec
from services.records.domain.records import PatientRecords
from services.records.domain.resources import TYPES, ResourceType, medication_ids
from services.records.domain.scopes import READ, SEARCH, needed
from services.records.errors import (Forbidden, InsufficientScope, InvalidParameter, NotSupported, ResourceNotFound,
                                     SourceUnavailable)


@dataclass
class Entry:
    target: Target
    resource: dict
    mode: str = "match"  # or "include"

    @property
    def practice(self) -> str:
        return self.target.practice


@dataclass
class Page:
    criteria: search_rules.Criteria
    entries: list[Entry]
    total: int
    offset: int
    count: int
    self_cursor: str | None = None  # pages after the first are named by their cursor
    next_cursor: str | None = None
    previous_cursor: str | None = None
    unavailable: list[str] = field(default_factory=list)


class Gateway:
    def __init__(self, access: Access, records: PatientRecords, auditor: Auditor, cursors: CursorCodec, *,
                 page_size: int = 20) -> None:
        self.access, self.records, self.auditor, self.cursors = access, records, auditor, cursors
        self.page_size = page_size

    # -- reads -----------------------------------------------------------------------------------
    def read(self, ctx: TokenContext, resource_type: str, resource_id: str) -> Entry:
        with self.auditor.audited(Attempt(ctx, "read", resource_type, asked_ids=(resource_id,))) as attempt:
            kind = _kind(resource_type)
            grant = ctx.grant(kind.name, READ)
            if not grant.allowed:
                raise InsufficientScope(needed(kind.name, READ))
            target = self.access.own(ctx)
            attempt.judged(target)
            resource = self.records.one(target, kind, resource_id)
            if resource is None or not grant.admits(resource):
                raise ResourceNotFound()
            attempt.served(target, resource_id)
            return Entry(target, resource)

    # -- searches --------------------------------------------------------------------------------
    def search(self, ctx: TokenContext, resource_type: str, pairs: list[tuple[str, str]], *,
               everywhere: bool = False) -> Page:
        """A searchset page from the request's query pairs (or its ``_cursor``)."""
        view = paging.EVERYWHERE_VIEW if everywhere else paging.PATIENT_VIEW
        with self.auditor.audited(Attempt(ctx, "search", resource_type)) as attempt:
            kind = _kind(resource_type)
            criteria, page = self._request(ctx, kind, view, pairs)
            attempt.query = criteria.query_string()
            found = self._search(ctx, kind, criteria, page, everywhere, attempt)
            if page.offset + page.count < found.total:
                found.next_cursor = paging.seal(self.cursors, ctx, view, criteria,
                                                paging.PageRequest(page.offset + page.count, page.count))
            if page.offset > 0:
                found.self_cursor = paging.seal(self.cursors, ctx, view, criteria, page)
                found.previous_cursor = paging.seal(self.cursors, ctx, view, criteria,
                                                    paging.PageRequest(max(0, page.offset - page.count), page.count))
            return found

    def _request(self, ctx: TokenContext, kind: ResourceType, view: str,
                 pairs: list[tuple[str, str]]) -> tuple[search_rules.Criteria, paging.PageRequest]:
        cursor = [value for name, value in pairs if name == "_cursor"]
        if cursor:
            if len(cursor) > 1 or any(name not in ("_cursor", "_format") for name, _ in pairs):
                raise InvalidParameter("A paging link takes no other search parameters.")
            pairs, page = paging.resume(self.cursors, ctx, view, kind.name, cursor[0])
            criteria, _controls = search_rules.parse(kind, pairs)
            return criteria, page
        criteria, controls = search_rules.parse(kind, pairs)
        count = paging.page_size(controls.get("_count"), default=self.page_size)
        return criteria, paging.PageRequest(0, count)

    def _search(self, ctx: TokenContext, kind: ResourceType, criteria: search_rules.Criteria,
                page: paging.PageRequest, everywhere: bool, attempt: Attempt) -> Page:
        if not kind.searchable:
            raise NotSupported(f"{kind.name} is read through the resources that refer to it, not searched.")
        grant = ctx.grant(kind.name, SEARCH)
        if not grant.allowed:
            raise InsufficientScope(needed(kind.name, SEARCH))
        targets, unavailable = self._targets(ctx, criteria, everywhere)
        ranked: list[tuple[tuple, str, str, Entry]] = []  # (search order, practice, patient, entry)
        for target in targets:
            attempt.judged(target)
            try:
                resources = self.records.ranked(target, kind)
            except SourceUnavailable:
                if not everywhere:
                    raise
                unavailable.append(target.practice)
                continue
            ranked += [(order, target.practice, target.patient, Entry(target, r)) for order, r in resources
                       if search_rules.matches(r, kind, criteria) and grant.admits(r)]
        ranked.sort(key=lambda item: item[:3])
        matched = [item[3] for item in ranked]
        entries = matched[page.offset:page.offset + page.count]
        if criteria.includes:
            entries += self._medications(ctx, entries)
        for entry in entries:
            attempt.served(entry.target, entry.resource["id"])
        return Page(criteria, entries, len(matched), page.offset, page.count, unavailable=sorted(set(unavailable)))

    def _targets(self, ctx: TokenContext, criteria: search_rules.Criteria,
                 everywhere: bool) -> tuple[list[Target], list[str]]:
        if not everywhere:
            target = self.access.own(ctx)
            if criteria.patients and set(criteria.patients) != {target.patient}:
                raise Forbidden()
            return [target], []
        targets, unavailable = self.access.linked(ctx)
        if criteria.patients:
            targets = [t for t in targets if t.patient in criteria.patients]
            if not targets:
                raise Forbidden()
        return targets, unavailable

    def _medications(self, ctx: TokenContext, entries: list[Entry]) -> list[Entry]:
        """``_include=MedicationRequest:medication``: the Medications the page's requests name."""
        if not ctx.grant("Medication", READ).allowed:
            return []
        included, seen = [], set()
        for entry in [e for e in entries if e.resource.get("resourceType") == "MedicationRequest"]:
            for medication_id in sorted(medication_ids(entry.resource)):
                if (entry.practice, medication_id) in seen:
                    continue
                seen.add((entry.practice, medication_id))
                found = self.records.one(entry.target, TYPES["Medication"], medication_id)
                if found is not None:
                    included.append(Entry(entry.target, found, "include"))
        return included


def _kind(resource_type: str) -> ResourceType:
    kind = TYPES.get(resource_type)
    if kind is None:
        raise NotSupported(f"{resource_type} is not served here.")
    return kind
