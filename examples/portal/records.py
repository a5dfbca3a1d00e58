"""Reading the patient's records from CareKey's records gateway (FHIR R4) for the dashboard.

Whose records: the access token's ``patient`` at this practice. When that is the account holder,
the dashboard shows their records from every practice the account is connected to (the gateway's
cross-practice view, ``/all/{type}``); when it is someone they act for (a child, a relative), only
that person's records here. The gateway applies the practices' rules (proxy ages, released
results) and answers 403 for a person the account may not see.
"""
from __future__ import annotations

import base64
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests

from examples.portal import fhir

log = logging.getLogger(__name__)
TIMEOUT = 10
FHIR_JSON = "application/fhir+json"
PAGE_SIZE = 100


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    empty: str
    queries: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]


SECTIONS = (
    Section("conditions", "Diagnoses", "No diagnoses on file.", (("Condition", ()),)),
    Section("medications", "Medications", "No medications on file.",
            (("MedicationRequest", (("_include", "MedicationRequest:medication"),)),)),
    Section("immunizations", "Immunizations", "No immunizations on file.", (("Immunization", ()),)),
    Section("allergies", "Allergies", "No allergies on file.", (("AllergyIntolerance", ()),)),
    Section("procedures", "Procedures", "No procedures on file.", (("Procedure", ()),)),
    Section("care-plans", "Care plans", "No care plans on file.", (("CarePlan", ()),)),
    Section("lab-results", "Lab results", "No lab results have been shared with you yet.",
            (("DiagnosticReport", (("category", "LAB"),)), ("Observation", (("category", "laboratory"),)))),
    Section("appointments", "Appointments", "No appointments on file.", (("Appointment", ()),)),
)


class TokenRejected(Exception):
    """The gateway refused the access token (expired or revoked): sign in again."""


class NotAllowed(Exception):
    """The gateway does not let this account see this person (403)."""


class Unavailable(Exception):
    """The gateway could not be reached or failed."""


@dataclass(frozen=True)
class Link:
    practice: str
    patient: str
    relationship: str


@dataclass
class SectionView:
    section: Section
    rows: list[fhir.Row] = field(default_factory=list)
    failed: bool = False
    truncated: bool = False
    unreachable: list[str] = field(default_factory=list)


@dataclass
class Person:
    practice: str
    patient: str
    name: str
    birth_date: str | None
    relationship: str


@dataclass
class Dashboard:
    context: Link | None                  # who the portal acts for at this practice (None: not connected)
    viewing: list[Link]                   # whose records are shown (one person, maybe at several practices)
    person: Person | None                 # the person in context, as the practice has them
    people_here: list[Person]             # everyone the account may see at this practice (the switcher)
    links_here: int                       # how many people the account may act for at this practice
    sections: list[SectionView] = field(default_factory=list)
    refused: bool = False                 # the practice does not share this person's records with the account
    failed: bool = False                  # the gateway is unreachable


def token_claims(access_token: str) -> dict[str, Any]:
    """The claims of CareKey's JWT access token (documented: ``patient``, ``practice``, ``links``).

    Read without verifying: the portal received the token directly from the token endpoint, and
    the records gateway verifies it on every request. Used only to decide what to ask for.
    """
    try:
        payload = access_token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}


def links_of(claims: dict[str, Any]) -> list[Link]:
    found = []
    for item in claims.get("links") or []:
        if isinstance(item, dict) and all(isinstance(item.get(k), str) for k in ("practice", "patient", "relationship")):
            found.append(Link(item["practice"], item["patient"], item["relationship"]))
    return found


class RecordsClient:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def search(self, access_token: str, path: str, params: list[tuple[str, str]]) -> dict[str, Any]:
        try:
            response = requests.get(f"{self.base_url}/{path}", params=params, timeout=TIMEOUT,
                                    headers={"Authorization": f"Bearer {access_token}", "Accept": FHIR_JSON})
        except requests.RequestException as exc:
            log.warning("records gateway unreachable", extra={"error": type(exc).__name__})
            raise Unavailable() from None
        if response.status_code == 401:
            raise TokenRejected()
        if response.status_code == 403:
            raise NotAllowed()
        if response.status_code != 200:
            log.warning("records gateway answered %s for %s", response.status_code, path)
            raise Unavailable()
        try:
            return response.json()
        except ValueError:
            raise Unavailable() from None

    # -- the dashboard ---------------------------------------------------------------------------
    def dashboard(self, access_token: str, practice_id: str, patient: str | None) -> Dashboard:
        links = links_of(token_claims(access_token))
        here = [link for link in links if link.practice == practice_id]
        context = next((link for link in here if link.patient == patient), None)
        if context is None or context.relationship == "self":
            viewing = [link for link in links if link.relationship == "self"]
        else:
            viewing = [context]
        board = Dashboard(context=context, viewing=viewing, person=None, people_here=[], links_here=len(here))
        try:
            people = self._people(access_token, links)
        except (Unavailable, NotAllowed):
            board.failed = True
            return board
        board.people_here = [p for p in people if p.practice == practice_id]
        if context is not None:
            board.person = next((p for p in board.people_here if p.patient == context.patient), None)
            if board.person is None:
                board.refused = True  # linked, but the practice's rules do not let this account see them
                return board
        shown = {(link.practice, link.patient) for link in viewing
                 if any(p.practice == link.practice and p.patient == link.patient for p in people)}
        if not shown:
            return board
        with ThreadPoolExecutor(max_workers=4) as pool:
            board.sections = list(pool.map(lambda s: self._section(access_token, s, shown), SECTIONS))
        return board

    def _people(self, access_token: str, links: list[Link]) -> list[Person]:
        """Everyone the gateway lets this account see, at every practice (refused proxies are left out)."""
        if not links:
            return []
        bundle = self.search(access_token, "all/Patient", [("_count", str(PAGE_SIZE))])
        relationship = {(link.practice, link.patient): link.relationship for link in links}
        people = []
        for resource in _matches(bundle):
            key = (fhir.practice_of(resource) or "", resource.get("id") or "")
            if key in relationship:
                people.append(Person(key[0], key[1], fhir.person_name(resource), resource.get("birthDate"),
                                     relationship[key]))
        people.sort(key=lambda p: (p.relationship != "self", p.name))
        return people

    def _section(self, access_token: str, section: Section, shown: set[tuple[str, str]]) -> SectionView:
        view = SectionView(section)
        patients = ",".join(sorted({patient for _, patient in shown}))
        for resource_type, extra in section.queries:
            params = [("patient", patients), ("_count", str(PAGE_SIZE)), *extra]
            try:
                bundle = self.search(access_token, f"all/{resource_type}", params)
            except (Unavailable, NotAllowed):
                view.failed = True
                continue
            medications = {(fhir.practice_of(r) or "", r.get("id", "")): r for r in _included(bundle)}
            for resource in _matches(bundle):
                item = fhir.row(resource, medications)
                if item is not None and (item.practice, item.patient) in shown:
                    view.rows.append(item)
            view.truncated = view.truncated or any(l.get("relation") == "next" for l in bundle.get("link") or [])
            view.unreachable += _unreachable(bundle)
        view.rows.sort(key=lambda r: r.sort_key, reverse=True)
        return view


def _entries(bundle: dict[str, Any], mode: str) -> list[dict]:
    return [entry["resource"] for entry in bundle.get("entry") or []
            if isinstance(entry, dict) and isinstance(entry.get("resource"), dict)
            and (entry.get("search") or {}).get("mode", "match") == mode]


def _matches(bundle: dict[str, Any]) -> list[dict]:
    return _entries(bundle, "match")


def _included(bundle: dict[str, Any]) -> list[dict]:
    return _entries(bundle, "include")


def _unreachable(bundle: dict[str, Any]) -> list[str]:
    """Practices the gateway names in an OperationOutcome as unreachable (the rest is still served)."""
    names = []
    for outcome in _entries(bundle, "outcome"):
        for issue in outcome.get("issue") or []:
            text = issue.get("diagnostics") or (issue.get("details") or {}).get("text")
            if text:
                names.append(str(text))
    return names
