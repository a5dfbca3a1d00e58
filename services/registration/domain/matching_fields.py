"""Field comparators for identity matching: each turns two prepared values into an agreement level.

A comparator returns ``None`` when either side lacks the field (no evidence either way), else one of
the levels below. ``WEIGHTS`` gives each level's weight in bits (log2 of how much likelier the level is
for the same person than for two different people, rounded and then tuned by hand; see the docstring of
``matching`` for the table and the reasoning).
"""
from __future__ import annotations

from typing import Callable

from jellyfish import jaro_winkler_similarity as jaro_winkler

from services.registration.domain.matching_normalise import Prepared

EXACT = "exact"          # the same value after normalisation
NICKNAME = "nickname"    # given names: one is a nickname of the other (Bob/Robert)
PARTIAL = "partial"      # surnames: one part of a compound surname (Garcia-Lopez/Lopez)
NEAR = "near"            # a typo, a phonetic variant, one of several given names, a nearby zip, ...
SWAPPED = "swapped"      # dates of birth: day and month swapped
TYPO = "typo"            # dates of birth: one digit wrong or two adjacent digits swapped
INITIAL = "initial"      # an initial that agrees with the full name ("J" / "John")
DISAGREE = "disagree"

WEIGHTS: dict[str, dict[str, float]] = {
    "given":      {EXACT: 7.0, NICKNAME: 5.0, NEAR: 4.0, INITIAL: 1.5, DISAGREE: -6.0},
    "family":     {EXACT: 9.0, PARTIAL: 6.0, NEAR: 6.0, DISAGREE: -6.0},
    "birth_date": {EXACT: 14.0, SWAPPED: 9.0, TYPO: 8.0, DISAGREE: -10.0},
    "sex":        {EXACT: 0.5, DISAGREE: 0.0},  # a disagreement costs one grade instead (see matching)
    "zip":        {EXACT: 4.0, NEAR: 1.5, DISAGREE: -1.0},
    "phone":      {EXACT: 7.0, NEAR: 3.5, DISAGREE: -1.0},
    "email":      {EXACT: 8.0, DISAGREE: -0.5},
    "address":    {EXACT: 3.0, NEAR: 2.0, DISAGREE: -0.5},
    "middle":     {EXACT: 1.0, INITIAL: 0.5, NEAR: 0.5, DISAGREE: -2.0},
}

NAME_TYPO = 0.9  # Jaro-Winkler similarity from which two names count as one with a typo


def _one_edit(a: str, b: str) -> bool:
    """Same length and one character different, or two adjacent characters swapped."""
    if len(a) != len(b):
        return False
    diff = [i for i in range(len(a)) if a[i] != b[i]]
    return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                              and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])


def given(q: Prepared, c: Prepared) -> str | None:
    if not q.given or not c.given:
        return None
    if len(q.given_first) == 1 or len(c.given_first) == 1:  # "J" / "John", "J" / "J": an initial only
        return INITIAL if q.given_first[0] == c.given_first[0] else DISAGREE
    if q.given == c.given:
        return EXACT
    if q.given_words < c.given_words or c.given_words < q.given_words:
        return NEAR  # "Mary" / "Mary Ann"
    if not q.given_group.isdisjoint(c.given_group):  # a nickname of the other, or both of one name
        return NICKNAME
    if jaro_winkler(q.given, c.given) >= NAME_TYPO:
        return NEAR
    return DISAGREE


def family(q: Prepared, c: Prepared) -> str | None:
    if not q.family or not c.family:
        return None
    if q.family == c.family or (q.family_parts and q.family_parts == c.family_parts):
        return EXACT
    if not q.family_parts.isdisjoint(c.family_parts):
        return PARTIAL
    similarity = jaro_winkler(q.family, c.family)
    if similarity >= NAME_TYPO or (similarity >= 0.8 and not q.family_codes.isdisjoint(c.family_codes)):
        return NEAR
    if len(q.family_parts) > 1 or len(c.family_parts) > 1:  # a typo in one part of a compound surname
        if any(jaro_winkler(a, b) >= NAME_TYPO for a in q.family_parts for b in c.family_parts):
            return NEAR
    return DISAGREE


def names_swapped(q: Prepared, c: Prepared) -> bool:
    """Given and family name entered the wrong way round (each may also carry a typo)."""
    return bool(q.given and q.family and c.given and c.family) and (
        (q.given == c.family or jaro_winkler(q.given, c.family) >= NAME_TYPO)
        and (q.family == c.given or jaro_winkler(q.family, c.given) >= NAME_TYPO))


def birth_date(q: Prepared, c: Prepared) -> str | None:
    if not q.dob or not c.dob:
        return None
    if q.dob == c.dob:
        return EXACT
    a, b = q.birth_date, c.birth_date
    if a.year == b.year and a.month == b.day and a.day == b.month:
        return SWAPPED
    return TYPO if _one_edit(q.dob, c.dob) else DISAGREE


def sex(q: Prepared, c: Prepared) -> str | None:
    if not q.sex or not c.sex:
        return None
    return EXACT if q.sex == c.sex else DISAGREE


def zip_code(q: Prepared, c: Prepared) -> str | None:
    if not q.zip or not c.zip:
        return None
    if q.zip == c.zip:
        return EXACT
    return NEAR if _one_edit(q.zip, c.zip) else DISAGREE


def phone(q: Prepared, c: Prepared) -> str | None:
    if not q.phone or not c.phone:
        return None
    if q.phone == c.phone:
        return EXACT
    return NEAR if q.phone[-7:] == c.phone[-7:] else DISAGREE


def email(q: Prepared, c: Prepared) -> str | None:
    if not q.email or not c.email:
        return None
    return EXACT if q.email == c.email else DISAGREE


def address(q: Prepared, c: Prepared) -> str | None:
    if not q.address or not c.address:
        return None
    if q.address == c.address:
        return EXACT
    if q.house == c.house and jaro_winkler(q.address, c.address) >= 0.88:
        return NEAR
    return DISAGREE


def middle(q: Prepared, c: Prepared) -> str | None:
    if not q.middle or not c.middle:
        return None
    if q.middle == c.middle:
        return EXACT
    if (len(q.middle) == 1 or len(c.middle) == 1) and q.middle[0] == c.middle[0]:
        return INITIAL
    return NEAR if jaro_winkler(q.middle, c.middle) >= NAME_TYPO else DISAGREE


COMPARATORS: tuple[tuple[str, Callable[[Prepared, Prepared], str | None]], ...] = (
    ("given", given), ("family", family), ("birth_date", birth_date), ("sex", sex), ("zip", zip_code),
    ("phone", phone), ("email", email), ("address", address), ("middle", middle),
)
