"""Identity matching: is the person in front of us this roster entry? Pure Python, no I/O.

A Fellegi-Sunter matcher (``matching_model``: m and u per field and level, estimated from the practice's
roster and stored with it) with look-alike guards. For a query and each candidate the roster's blocking
keys found (``matching_keys``), every field both sides have is compared (``matching_fields``: exact,
nickname, typo, phonetic, day/month swapped, one digit, year one off, first three zip digits, ...) and
its level's weight ``log2(m / u)`` added up; an exact name weighs by how common it is on the roster
("Smith" about 7 bits, "Quarshie" about 19). A field missing on either side adds nothing. The sum plus
the prior (``log2 1/N``, N the roster's size, at least 10,000) is the log-odds that the query is that
entry; over all candidates of a search the posterior of each is its odds over one plus all of theirs,
so a second candidate that fits as well takes the first one's probability away. ``search.score`` is
that posterior, and the grade (the FHIR ``$match`` codes, ``match-grade`` extension) follows from it:

- ``certain``   posterior >= 0.999: registration may go on to proof with any method on file.
- ``probable``  >= 0.9: likely the patient; proof only by the phone on file, which the person types.
- ``possible``  >= 0.2: worth a human look (an operator's queue), never linked automatically.
- ``certainly-not``: no match.

No amount of evidence lifts a candidate over these ceilings (each a look-alike it guards against):

1. At most ``possible``: the given names disagree or only an initial agrees (twins: same surname, birth
   date and address, another given name); the birth dates disagree (not a swap, a digit or a year: a
   parent and child of one name, a household member's date) or one is missing (a placeholder such as
   1900-01-01 counts as missing) and the phone or email does not agree exactly; generational suffixes
   differ (Jr./Sr.); the surnames disagree or one
   is missing and neither the street address, the phone nor the email agrees exactly (so a first name,
   birth date and zip alone never pass for someone with another surname).
2. At most ``probable``: the birth date is missing on one side (a record imported with its date
   unknown) while the names agree and the phone or email agrees exactly; the surname disagrees (a new
   married name) or is missing, the address, phone or email agreeing; the given name is missing on either side; only one of several given names agrees
   (Mary / Mary Ann); the given names are one letter apart but both real names (Carl / Karl: a twin,
   not a typo, for all we know).
3. In a search, ``certain`` also needs (else ``probable`` at most):
   - a margin: the best candidate's weight at least ``MARGIN_BITS`` (10 bits, 1,000 times likelier)
     over the runner-up's;
   - twins: when another candidate shares the best one's surname and birth date under another given
     name, the given name typed must be the best one's exactly;
   - household: no other candidate sharing the surname (or address, phone) has exactly the birth date
     typed when the best one's differs;
   - same name: when another candidate has the same given and family name (a parent or child, Jr./Sr.,
     a stranger), the best one's birth date must agree exactly and the other's must not.
4. Sexes known on both sides and different: one grade lower (a data-entry slip costs a proof step).

A ceiling also caps the score just under its grade's band, so ordering by score and by grade agree.
``Match.fields`` shows each compared field's weight over its exact-agreement weight (1 = agrees exactly,
negative = disagrees); no raw values ever appear in a ``Match``. ``bench/matching_quality.py`` measures
all of this on FEBRL and a census-style data set (bench/README.md).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Iterable, NamedTuple, TypeVar

from services.registration.domain import matching_keys
from services.registration.domain.matching_fields import (COMPARATORS, DISAGREE, EXACT, INITIAL, NEAR, NICKNAME,
                                                          PARTIAL, family_names, given_names, swapped_names)
from services.registration.domain.matching_model import PRIOR, Model
from services.registration.domain.matching_normalise import (Prepared, normalise_email, normalise_name,
                                                             normalise_phone, normalise_zip, prepare)

__all__ = ["Person", "Thresholds", "Match", "Model", "PRIOR", "compare", "rank", "blocking_keys", "probe_keys",
           "normalise_name", "normalise_zip", "normalise_phone", "normalise_email",
           "CERTAIN", "PROBABLE", "POSSIBLE", "CERTAINLY_NOT", "GRADES"]

K = TypeVar("K")

CERTAIN, PROBABLE, POSSIBLE, CERTAINLY_NOT = "certain", "probable", "possible", "certainly-not"
GRADES = (CERTAIN, PROBABLE, POSSIBLE, CERTAINLY_NOT)  # best first
_ORDER = {grade: len(GRADES) - i for i, grade in enumerate(GRADES)}
MARGIN_BITS = 10.0   # "certain" needs the best candidate this much above the runner-up
SWAP_BITS = -1.0     # given and family name the wrong way round


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
    city: str = ""


@dataclass(frozen=True)
class Thresholds:
    """Posterior probabilities from which a candidate grades certain, probable, possible."""
    certain: float = 0.999
    probable: float = 0.9
    possible: float = 0.2

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
        return max(0.0, round(upper - 0.0001, 4))


@dataclass(frozen=True)
class Match:
    score: float                                          # 0..1, the posterior probability
    grade: str                                            # certain | probable | possible | certainly-not
    fields: dict[str, float] = field(default_factory=dict)  # per-field agreement, -1..1, no raw values


class _Scored(NamedTuple):
    record: Prepared
    levels: dict[str, str]
    bits: float          # log-likelihood ratio: the sum of the fields' weights
    ceiling: str         # the best grade the fields allow (rules 1, 2)
    reason: str          # why, when it is not certain
    sex_differs: bool


def _lower(grade: str, limit: str) -> str:
    return grade if _ORDER[grade] <= _ORDER[limit] else limit


def _ceiling(levels: dict[str, str], similar_given: bool) -> tuple[str, str]:
    """The best grade the fields allow (rules 1 and 2), and why."""
    given, family, born = levels.get("given"), levels.get("family"), levels.get("birth_date")
    if given in (DISAGREE, INITIAL):
        return POSSIBLE, "given name disagrees"
    if born == DISAGREE:
        return POSSIBLE, "birth date disagrees"
    if levels.get("suffix") == DISAGREE:
        return POSSIBLE, "suffix differs"
    if born is None:  # unknown on file (or not asked): the name and a contact of the person's own, or nothing
        if given in (EXACT, NICKNAME) and family == EXACT and EXACT in (levels.get("phone"), levels.get("email")):
            return PROBABLE, "birth date missing"
        return POSSIBLE, "birth date missing, no contact agrees"
    if family in (DISAGREE, None) and EXACT not in (levels.get("address"), levels.get("phone"), levels.get("email")):
        return POSSIBLE, f"surname {'disagrees' if family else 'missing'}, no address or contact agrees"
    if family in (DISAGREE, None):
        return PROBABLE, f"surname {'disagrees' if family else 'missing'}"
    if given is None:
        return PROBABLE, "given name missing"
    if given == PARTIAL:
        return PROBABLE, "one of several given names"
    if similar_given:
        return PROBABLE, "given name another real name (Carl/Karl)"
    return CERTAIN, ""


def _score(q: Prepared, c: Prepared, model: Model) -> _Scored:
    levels: dict[str, str] = {}
    for name, comparator in COMPARATORS:
        level = comparator(q, c)
        if level is not None:
            levels[name] = level
    bits = 0.0
    if levels.get("given") == DISAGREE and levels.get("family") == DISAGREE:
        swapped = swapped_names(q, c)  # first and last name the wrong way round
        if swapped:
            levels["given"], levels["family"] = swapped
            bits += SWAP_BITS
    weights = model.weights
    for name, level in levels.items():
        if level == EXACT and name == "given":
            bits += model.name_bits("given", c.given)
        elif level == EXACT and name == "family":
            bits += model.name_bits("family", c.family)
        else:
            bits += weights[name][level]
    # one letter apart and both real names (Carl / Karl): as likely a twin as a typo
    similar = levels.get("given") == NEAR and model.is_given_name(q.given) and model.is_given_name(c.given)
    return _Scored(c, levels, bits, *_ceiling(levels, similar), levels.get("sex") == DISAGREE)


def _fields(scored: _Scored, model: Model) -> dict[str, float]:
    """Each compared field's weight over its exact-agreement weight, -1..1 (an exact weight can be
    near zero where everyone shares the value, say one zip: then only "agrees" or "not")."""
    weights = model.weights
    return {name: -1.0 if level == DISAGREE else round(max(-1.0, min(1.0, weights[name][level]
                                                                       / max(weights[name][EXACT], 0.1))), 3)
            for name, level in scored.levels.items()}


def _probability(log_odds: float) -> float:
    return 1.0 / (1.0 + 2.0 ** -log_odds) if log_odds > -1000 else 0.0


def _match(scored: _Scored, probability: float, ceiling: str, thresholds: Thresholds, model: Model) -> Match:
    grade = _lower(thresholds.grade(probability), ceiling)
    if scored.sex_differs and grade != CERTAINLY_NOT:  # costs one grade (rule 4)
        grade = GRADES[GRADES.index(grade) + 1]
    score = probability if grade == CERTAIN else min(probability, thresholds.ceiling_score(grade))
    return Match(score=round(score, 6), grade=grade, fields=_fields(scored, model))


def compare(query: Person, candidate: Person, thresholds: Thresholds = Thresholds(), model: Model = PRIOR) -> Match:
    """One candidate on its own: its posterior, graded with the thresholds and the field ceilings."""
    scored = _score(prepare(query), prepare(candidate), model)
    return _match(scored, _probability(model.prior_bits + scored.bits), scored.ceiling, thresholds, model)


def explain(query: Person, candidate: Person, model: Model = PRIOR) -> tuple[dict[str, str], str]:
    """The level of each field compared and the reason for the fields' ceiling ("" when none), for
    diagnosis: values never appear."""
    scored = _score(prepare(query), prepare(candidate), model)
    return dict(scored.levels), scored.reason


def _same_family(a: Prepared, b: Prepared) -> bool:
    return bool(a.family and b.family) and family_names(a.family, a.family_parts, a.family_codes, b.family,
                                                        b.family_parts, b.family_codes) in (EXACT, PARTIAL)


def _same_household(a: Prepared, b: Prepared) -> bool:
    return _same_family(a, b) or (bool(a.address) and a.address == b.address) or (bool(a.phone) and a.phone == b.phone)


def _look_alike(best: _Scored, other: _Scored) -> bool:
    """Does *other* make *best* unsafe to call certain (rule 3's twins, household and same name)?"""
    b, o = best.record, other.record
    if b.dob and b.dob == o.dob and _same_family(b, o) and best.levels.get("given") != EXACT:
        if not b.given or not o.given or given_names(b.given, b.given_first, b.given_words, b.given_group, o.given,
                                                     o.given_first, o.given_words, o.given_group) != EXACT:
            return True  # twins: only the exact given name tells them apart
    if other.levels.get("birth_date") == EXACT and best.levels.get("birth_date") != EXACT and _same_household(b, o):
        return True      # a household member has exactly the birth date typed
    same_name = (other.levels.get("given") in (EXACT, NICKNAME)
                 and other.levels.get("family") in (EXACT, PARTIAL))
    return same_name and (best.levels.get("birth_date") != EXACT or other.levels.get("birth_date") == EXACT)


def rank(query: Person, candidates: Iterable[tuple[K, Person]], thresholds: Thresholds = Thresholds(), *,
         model: Model = PRIOR, limit: int = 10, only_certain: bool = False,
         guards: bool = True) -> list[tuple[K, Match]]:
    """The candidates that match at all, best first (grade, then score; ties keep input order), each
    with its posterior among all of them and the search's guards (rule 3) applied to the best.
    ``guards=False`` grades by the posterior alone, no ceiling or guard: for measurement only
    (bench/matching_quality.py shows what the guards cost and what they keep out)."""
    q = prepare(query)
    scored = [(key, _score(q, prepare(person), model)) for key, person in candidates]
    if not scored:
        return []
    top = max(s.bits for _, s in scored)
    # each one's posterior: its odds over one plus everyone's (in units of the best one's odds)
    total = sum(2.0 ** (s.bits - top) for _, s in scored)
    none = 2.0 ** min(-(model.prior_bits + top), 1000.0)
    best_index = next(i for i, (_, s) in enumerate(scored) if s.bits == top)
    best = scored[best_index][1]
    runner_up = max((s.bits for i, (_, s) in enumerate(scored) if i != best_index), default=-math.inf)
    withheld = top - runner_up < MARGIN_BITS or any(_look_alike(best, s) for i, (_, s) in enumerate(scored)
                                                    if i != best_index)
    found: list[tuple[K, Match]] = []
    for i, (key, s) in enumerate(scored):
        probability = 2.0 ** (s.bits - top) / (none + total)
        if probability < thresholds.possible:
            continue  # certainly not (a ceiling only lowers a grade)
        if not guards:
            ceiling = CERTAIN
        else:
            ceiling = s.ceiling if i == best_index and not withheld else _lower(s.ceiling, PROBABLE)
        match = _match(s, probability, ceiling, thresholds, model)
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
