"""Who may read which records: the gateway's access rules, pure and table-tested.

The decisions, in the order the gateway asks them:

1. **Whose records.** A token reads the patient in its context (``patient``) at its practice
   (``practice``), and only when that pair is among its ``links``; the cross-practice view reads
   the patients in its ``links``. Nothing a request says (ids, ``patient=``, paging links) widens this.
2. **Acting for someone else.** ``self`` is always allowed. A ``proxy`` is judged at read time
   from the patient's birth date and the practice's rules: under ``proxy_full_under`` (12 by
   default) full access; from then until ``adult_at`` (18) only when the teen agreed; adults
   only while the link is valid (identity lists only valid links, and introspection mode catches
   a revocation within the token's life). No birth date on file: no proxy access.
3. **Which resources.** Lab results (Observation category ``laboratory``, DiagnosticReport
   category ``LAB``) only when the practice released that result; clinical notes
   (DocumentReference, note-type DiagnosticReports) only when the practice has notes on.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from services.records.domain.resources import has_code, values_at

PRACTICE_TAG = "https://carekey.example/practice"
RELEASE_TAG = "https://carekey.example/release"  # code "shared": the practice released this result
SELF, PROXY = "self", "proxy"

LAB_CATEGORIES = {"Observation": {"laboratory"}, "DiagnosticReport": {"LAB", "laboratory"}}
# US Core DiagnosticReport for Report and Note: cardiology, radiology, pathology (LOINC part codes)
NOTE_REPORT_CATEGORIES = {"LP29708-2", "LP29684-5", "LP7839-6"}


@dataclass(frozen=True)
class Link:
    practice: str
    patient: str
    relationship: str


@dataclass(frozen=True)
class PracticeRules:
    practice_id: str
    notes_enabled: bool = True
    proxy_full_under: int = 12
    adult_at: int = 18


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str


def age_on(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def may_act_for(link: Link | None, rules: PracticeRules, *, birth_date: date | None, teen_agreed: bool,
                today: date) -> Decision:
    """May the account holding *link* read this patient's records at this practice today?"""
    if link is None:
        return Decision(False, "not linked")
    if link.practice != rules.practice_id:
        return Decision(False, "another practice's rules")
    if link.relationship == SELF:
        return Decision(True, "self")
    if link.relationship != PROXY:
        return Decision(False, "unknown relationship")
    if birth_date is None or birth_date > today:
        return Decision(False, "proxy without a birth date on file")
    age = age_on(birth_date, today)
    if age < rules.proxy_full_under:
        return Decision(True, "proxy for a child")
    if age < rules.adult_at:
        return Decision(teen_agreed, "proxy for a teen who agreed" if teen_agreed else "proxy for a teen")
    return Decision(True, "proxy for an adult, link valid")


def context_link(patient: str | None, practice: str | None, links: list[Link]) -> Link | None:
    """The token's own patient context, when its links vouch for it."""
    if not patient or not practice:
        return None
    return next((link for link in links if link.practice == practice and link.patient == patient), None)


def cross_practice_links(links: list[Link]) -> list[Link]:
    """Everyone the cross-practice view may cover (proxies are still judged one by one)."""
    return [link for link in links if link.relationship in (SELF, PROXY)]


def is_lab_result(resource: dict) -> bool:
    categories = LAB_CATEGORIES.get(resource.get("resourceType", ""))
    return bool(categories) and has_code(resource, "category", categories)


def is_note(resource: dict) -> bool:
    kind = resource.get("resourceType")
    if kind == "DocumentReference":
        return True
    return kind == "DiagnosticReport" and has_code(resource, "category", NOTE_REPORT_CATEGORIES)


def is_released(resource: dict) -> bool:
    return any(tag.get("system") == RELEASE_TAG and tag.get("code") == "shared"
               for tag in values_at(resource, "meta.tag") if isinstance(tag, dict))


def release_facts(resource: dict) -> tuple[bool, bool]:
    """(a clinical note, a lab result not released): all :func:`visible` asks of the resource itself.
    Neither depends on the practice's rules, so a resource's facts can be worked out once."""
    return is_note(resource), is_lab_result(resource) and not is_released(resource)


def shown(note: bool, held: bool, rules: PracticeRules) -> bool:
    """:func:`visible`, given the resource's :func:`release_facts`."""
    return not held and (rules.notes_enabled or not note)


def visible(resource: dict, rules: PracticeRules) -> bool:
    """Whether the practice lets this resource out at all (after the patient checks)."""
    return shown(*release_facts(resource), rules)
