"""Identity matching: is the person in front of us this roster entry? Pure Python, no I/O.

``compare(query, candidate)`` weighs each field both sides have, sums the weights into a score and grades
it with the FHIR ``$match`` codes (``match-grade`` extension):

- ``certain``: this is the patient; registration may link without asking for more.
- ``probable``: likely the patient, but it needs stronger proof (a code to the phone on file).
- ``possible``: worth a human look (an operator's queue), never linked automatically.
- ``certainly-not``: no match.

Weights (bits: log2 of how much likelier an outcome is for the same person than for two strangers, from
rough m/u rates for a US practice roster, rounded and tuned by hand against the table-driven tests and
the FEBRL data set; see bench/README.md):

==========  ======================================  ======================================  ==========
field       agrees                                  partly agrees                           disagrees
==========  ======================================  ======================================  ==========
given       +7 exact                                +5 nickname (Bob/Robert, data from the  -6
                                                    ``nicknames`` package); +4 typo
                                                    (Jaro-Winkler >= 0.9) or one of several
                                                    names (Mary / Mary Ann); +1.5 initial
family      +9 exact (also "Garcia Lopez" /         +6 one part of a compound surname       -6
            "Garcia-Lopez" / "Lopez Garcia")        (Garcia-Lopez / Lopez); +6 typo or
                                                    sound-alike (Jaro-Winkler >= 0.9, or
                                                    >= 0.8 with the same NYSIIS code)
birth date  +14 exact                               +9 day and month swapped; +8 one digit  -10
                                                    wrong or two adjacent digits swapped
sex         +0.5                                                                            one grade
zip         +4 (first five digits)                  +1.5 one digit off                      -1
phone       +7                                      +3.5 same last seven digits             -1
email       +8 (case, +tag, Gmail dots ignored)                                             -0.5
address     +3 (USPS abbreviations)                 +2 same house number, JW >= 0.88        -0.5
middle      +1                                      +0.5 initial or typo                    -2
==========  ======================================  ======================================  ==========

First and last name entered the wrong way round count as a typo in each (+4, +6). A field missing on
either side (or a placeholder such as 1900-01-01 or 000-000-0000) adds nothing: it neither helps nor
hurts the score (only ``certain`` needs the given name, surname and date of birth; rule 3).
``score = clamp(sum of weights / 40, 0, 1)``; the default thresholds are ``certain >= 0.8`` (32 bits),
``probable >= 0.6`` (24), ``possible >= 0.4`` (16). So the seed's
identification (first + last name, date of birth, zip: 7 + 9 + 14 + 4 = 34 bits, 0.85) is certain
when all four agree exactly; name and date of birth alone (30 bits) are probable.

The score is then held under ceilings that no amount of other evidence lifts:

1. The given names disagree, or only an initial agrees, or both dates of birth are known and
   disagree (not a swap or one-digit typo): at most ``possible``. So twins (same surname, date of
   birth, address, phone) with different given names ("Mia"/"Noah", "John"/"James") never reach
   ``probable``, nor does a father and a son of the same name.
2. A typo in the given name, one of several given names ("Mary"/"Mary Ann"), first and last name
   swapped, or a surname that disagrees (a new married name): at most ``probable``.
3. ``certain`` needs the given name, surname and date of birth on both sides, each exact, except
   that one of them may be "soft" (a nickname, a surname typo or compound part, a day/month swap
   or one-digit date typo) when the phone or the email agrees exactly. Otherwise at most
   ``probable``.
4. Sexes known on both sides ("male"/"female"; "other", "unknown" and blanks are no evidence) and
   different: exactly one grade lower than the same comparison without sex (``certain`` ->
   ``probable`` -> ``possible`` -> ``certainly-not``). So a data-entry slip costs a proof step, and
   twins of different sexes drop out of the operator's queue altogether.

A ceiling also caps the score just under its grade's band, so ordering by score and by grade agree.
``Match.fields`` shows each compared field's weight divided by its exact-agreement weight (1 = agrees
exactly, 0.714 = a nickname, ...) and -1 when it disagrees; a field missing on either side is left
out. No raw values ever appear in a ``Match``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from typing import Iterable, TypeVar

from services.registration.domain import matching_keys
from services.registration.domain.matching_fields import (COMPARATORS, DISAGREE, EXACT, INITIAL, NEAR,
                                                          NICKNAME, PARTIAL, SWAPPED, TYPO, WEIGHTS,
                                                          names_swapped)
from services.registration.domain.matching_normalise import (normalise_email, normalise_name,
                                                             normalise_phone, normalise_zip, prepare)

__all__ = ["Person", "Thresholds", "Match", "compare", "rank", "blocking_keys", "probe_keys",
           "normalise_name", "normalise_zip", "normalise_phone", "normalise_email",
           "CERTAIN", "PROBABLE", "POSSIBLE", "CERTAINLY_NOT", "GRADES"]

K = TypeVar("K")

CERTAIN, PROBABLE, POSSIBLE, CERTAINLY_NOT = "certain", "probable", "possible", "certainly-not"
GRADES = (CERTAIN, PROBABLE, POSSIBLE, CERTAINLY_NOT)  # best first
_ORDER = {grade: len(GRADES) - i for i, grade in enumerate(GRADES)}
SCALE = 40.0  # bits that make a score of 1.0


@dataclass(frozen=True)
class Person:
    given: str = ""
    family: str = ""
    middle: str = ""
    birth_date: date | None = None
    sex: str = ""          # "male"/"female"/"other"/"unknown"/"" (also M/F)
    zip: str = ""          # US zip, zip+4 ok
    phone: str = ""        # any format
    email: str = ""
    address: str = ""      # street line


@dataclass(frozen=True)
class Thresholds:
    certain: float = 0.8
    probable: float = 0.6
    possible: float = 0.4

    def __post_init__(self) -> None:
        if not 0.0 < self.possible <= self.probable <= self.certain <= 1.0:
            raise ValueError("thresholds must satisfy 0 < possible <= probable <= certain <= 1")

    def grade(self, score: float) -> str:
        if score >= self.certain:
            return CERTAIN
        if score >= self.probable:
            return PROBABLE
        return POSSIBLE if score >= self.possible else CERTAINLY_NOT

    def ceiling_score(self, grade: str) -> float:
        """The highest score that still grades as *grade*."""
        if grade == CERTAIN:
            return 1.0
        upper = self.certain if grade == PROBABLE else self.probable if grade == POSSIBLE else self.possible
        return max(0.0, round(upper - 0.001, 3))


@dataclass(frozen=True)
class Match:
    score: float                                          # 0..1
    grade: str                                            # certain | probable | possible | certainly-not
    fields: dict[str, float] = field(default_factory=dict)  # per-field agreement, -1..1, no raw values


def _ceiling(levels: dict[str, str]) -> str:
    given, family, born = levels.get("given"), levels.get("family"), levels.get("birth_date")
    if given in (DISAGREE, INITIAL) or born == DISAGREE:
        return POSSIBLE
    if given == NEAR or None in (given, family, born) or family == DISAGREE:
        return PROBABLE
    soft = (given == NICKNAME) + (family in (PARTIAL, NEAR)) + (born in (SWAPPED, TYPO))
    corroborated = EXACT in (levels.get("phone"), levels.get("email"))
    return CERTAIN if soft == 0 or (soft == 1 and corroborated) else PROBABLE


def _lower(grade: str, limit: str) -> str:
    return grade if _ORDER[grade] <= _ORDER[limit] else limit


# per field: (name, comparator, {level: weight}, {level: agreement shown in Match.fields})
_FIELDS = tuple((name, comparator, WEIGHTS[name],
                 {level: -1.0 if level == DISAGREE else round(min(1.0, weight / WEIGHTS[name][EXACT]), 3)
                  for level, weight in WEIGHTS[name].items()})
                for name, comparator in COMPARATORS)
_AGREEMENT = {name: agreement for name, _, _, agreement in _FIELDS}


def compare(query: Person, candidate: Person, thresholds: Thresholds = Thresholds()) -> Match:
    """Weigh every field both sides have; grade with the thresholds and the ceilings above."""
    q, c = prepare(query), prepare(candidate)
    levels: dict[str, str] = {}
    fields: dict[str, float] = {}
    bits = 0.0
    for name, comparator, weights, agreement in _FIELDS:
        level = comparator(q, c)
        if level is not None:
            levels[name] = level
            fields[name] = agreement[level]
            bits += weights[level]
    if levels.get("given") == DISAGREE and levels.get("family") == DISAGREE and names_swapped(q, c):
        for name in ("given", "family"):  # first and last name the wrong way round: both count as typos
            levels[name], fields[name] = NEAR, _AGREEMENT[name][NEAR]
            bits += WEIGHTS[name][NEAR] - WEIGHTS[name][DISAGREE]
    score = round(max(0.0, min(1.0, bits / SCALE)), 3)
    grade = _lower(thresholds.grade(score), _ceiling(levels))
    if levels.get("sex") == DISAGREE and grade != CERTAINLY_NOT:  # costs one grade (its weight is 0)
        grade = GRADES[GRADES.index(grade) + 1]
    if grade != CERTAIN:
        score = min(score, thresholds.ceiling_score(grade))
    return Match(score=score, grade=grade, fields=fields)


def rank(query: Person, candidates: Iterable[tuple[K, Person]], thresholds: Thresholds = Thresholds(), *,
         limit: int = 10, only_certain: bool = False) -> list[tuple[K, Match]]:
    """The candidates that match at all, best first (grade, then score; ties keep input order)."""
    found: list[tuple[K, Match]] = []
    for key, person in candidates:
        match = compare(query, person, thresholds)
        if match.grade == CERTAINLY_NOT or (only_certain and match.grade != CERTAIN):
            continue
        found.append((key, match))
    found.sort(key=lambda item: (_ORDER[item[1].grade], item[1].score), reverse=True)
    return found[:max(0, limit)]


def blocking_keys(person: Person) -> set[str]:
    """Keys to store for a roster entry (see ``matching_keys`` for the list and their selectivity)."""
    return matching_keys.blocking_keys(prepare(person))


def probe_keys(query: Person) -> set[str]:
    """Keys to look up for a query: the stored forms plus variants (day/month swapped, each part of a
    compound surname, the canonical forms of a nickname, given and family name swapped), so that a
    true match shares at least one."""
    keys = matching_keys.probe_keys(prepare(query))
    if query.given and query.family:  # first and last name the wrong way round
        keys |= matching_keys.probe_keys(prepare(replace(query, given=query.family, family=query.given)))
    return keys
