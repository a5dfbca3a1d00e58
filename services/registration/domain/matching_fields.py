"""Field comparators for identity matching: each turns two prepared values into an agreement level.

A comparator returns ``None`` when either side lacks the field (no evidence either way), else one of the
levels below. How much each level weighs is the Fellegi-Sunter model's business (``matching_model``);
here is only what counts as which level. String distances come from ``rapidfuzz`` (Jaro-Winkler, the
optimal-string-alignment edit distance that counts two adjacent letters swapped as one edit), phonetic
codes from ``jellyfish`` (NYSIIS, computed in normalisation).

==========  =====================================================================================
field       levels, best first
==========  =====================================================================================
given       exact; nickname (Bob/Robert, the ``nicknames`` table); partial (Mary / Mary Ann); near (one
            or two edits, Jaro-Winkler >= 0.88, or the same sound: a typo, or another real name one
            letter away, Carl/Karl: ``matching`` tells the two apart); initial (J / John); disagree
family      exact (also "Garcia Lopez" / "Lopez Garcia"); partial (one part of a compound surname);
            near (a typo or a sound-alike); disagree
birth date  exact; swapped (day and month); typo (one digit wrong, or two adjacent digits swapped);
            year (the year one off, day and month the same); disagree
zip         exact (five digits); zip3 (the first three: the same area, a move across town); disagree
address     exact (USPS abbreviations); near (same house number, street Jaro-Winkler >= 0.88); disagree
city        exact; near (a typo); disagree
phone       exact (10 digits); near (the same last seven); disagree
email       exact (case, +tag and Gmail dots ignored); disagree
middle      exact; initial; near; disagree
sex         exact; disagree ("other", "unknown" and blanks are no evidence)
suffix      exact; disagree (Jr. / Sr., II / III: a parent and child of one name)
==========  =====================================================================================
"""
from __future__ import annotations

from typing import Callable

from rapidfuzz.distance import JaroWinkler, OSA

from services.registration.domain.matching_normalise import Prepared

EXACT = "exact"          # the same value after normalisation
NICKNAME = "nickname"    # given names: one is a nickname of the other (Bob/Robert)
PARTIAL = "partial"      # one of several given names; one part of a compound surname
NEAR = "near"            # a typo or phonetic variant, a nearby street line, the same last 7 phone digits
SWAPPED = "swapped"      # dates of birth: day and month swapped
TYPO = "typo"            # dates of birth: one digit wrong or two adjacent digits swapped
YEAR = "year"            # dates of birth: the year one off, day and month the same
ZIP3 = "zip3"            # zip codes: the same first three digits
INITIAL = "initial"      # an initial that agrees with the full name ("J" / "John")
DISAGREE = "disagree"

NAME_TYPO = 0.88  # Jaro-Winkler similarity from which two names count as one with a typo


def jaro_winkler(a: str, b: str) -> float:
    return JaroWinkler.similarity(a, b)


def edits(a: str, b: str, cutoff: int = 2) -> int:
    """Optimal-string-alignment distance (a transposition is one edit), cutoff + 1 when further."""
    return OSA.distance(a, b, score_cutoff=cutoff)


def near_names(a: str, b: str, codes_agree: bool = False) -> bool:
    """One name with a typo or a different spelling of the same sound: one edit; two edits in names of
    five letters or more; Jaro-Winkler >= 0.88; or the same phonetic code and Jaro-Winkler >= 0.8."""
    distance = edits(a, b)
    if distance <= 1 and min(len(a), len(b)) >= 3:
        return True
    if distance == 2 and min(len(a), len(b)) >= 5:
        return True
    similarity = jaro_winkler(a, b)
    return similarity >= NAME_TYPO or (codes_agree and similarity >= 0.8)


def _one_edit(a: str, b: str) -> bool:
    """Same length and one character different, or two adjacent characters swapped."""
    if len(a) != len(b):
        return False
    diff = [i for i in range(len(a)) if a[i] != b[i]]
    return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                              and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])


def given_names(a: str, a_first: str, a_words: frozenset[str], a_group: frozenset[str],
                b: str, b_first: str, b_words: frozenset[str], b_group: frozenset[str]) -> str:
    if len(a_first) == 1 or len(b_first) == 1:  # "J" / "John", "J" / "J": an initial only
        return INITIAL if a_first[0] == b_first[0] else DISAGREE
    if a == b:
        return EXACT
    if a_words < b_words or b_words < a_words:
        return PARTIAL  # "Mary" / "Mary Ann"
    if not a_group.isdisjoint(b_group):  # a nickname of the other, or both of one name
        return NICKNAME
    return NEAR if near_names(a, b) else DISAGREE


def given(q: Prepared, c: Prepared) -> str | None:
    if not q.given or not c.given:
        return None
    return given_names(q.given, q.given_first, q.given_words, q.given_group,
                       c.given, c.given_first, c.given_words, c.given_group)


def family_names(a: str, a_parts: frozenset[str], a_codes: frozenset[str],
                 b: str, b_parts: frozenset[str], b_codes: frozenset[str]) -> str:
    if a == b or (a_parts and a_parts == b_parts):
        return EXACT
    if not a_parts.isdisjoint(b_parts):
        return PARTIAL
    if near_names(a, b, codes_agree=not a_codes.isdisjoint(b_codes)):
        return NEAR
    if len(a_parts) > 1 or len(b_parts) > 1:  # a typo in one part of a compound surname
        if any(near_names(x, y) for x in a_parts for y in b_parts):
            return NEAR
    return DISAGREE


def family(q: Prepared, c: Prepared) -> str | None:
    if not q.family or not c.family:
        return None
    return family_names(q.family, q.family_parts, q.family_codes, c.family, c.family_parts, c.family_codes)


def swapped_names(q: Prepared, c: Prepared) -> tuple[str, str] | None:
    """Given and family name entered the wrong way round: the levels of the query's family name against
    the candidate's given name and of its given name against the candidate's family name, when both
    agree at least nearly; else None."""
    if not (q.given and q.family and c.given and c.family):
        return None
    first = family_names(q.family, q.family_parts, q.family_codes, c.given, frozenset((c.given,)), frozenset())
    last = family_names(q.given, frozenset((q.given,)), frozenset(), c.family, c.family_parts, c.family_codes)
    if first == DISAGREE or last == DISAGREE:
        return None
    return (EXACT if first == EXACT else NEAR), (EXACT if last == EXACT else NEAR)


def birth_date(q: Prepared, c: Prepared) -> str | None:
    if not q.dob or not c.dob:
        return None
    if q.dob == c.dob:
        return EXACT
    a, b = q.birth_date, c.birth_date
    if a.year == b.year and a.month == b.day and a.day == b.month:
        return SWAPPED
    if _one_edit(q.dob, c.dob):
        return TYPO
    return YEAR if abs(a.year - b.year) == 1 and (a.month, a.day) == (b.month, b.day) else DISAGREE


def sex(q: Prepared, c: Prepared) -> str | None:
    if not q.sex or not c.sex:
        return None
    return EXACT if q.sex == c.sex else DISAGREE


def zip_code(q: Prepared, c: Prepared) -> str | None:
    if not q.zip or not c.zip:
        return None
    if q.zip == c.zip:
        return EXACT
    return ZIP3 if q.zip[:3] == c.zip[:3] else DISAGREE


def address(q: Prepared, c: Prepared) -> str | None:
    if not q.address or not c.address:
        return None
    if q.address == c.address:
        return EXACT
    if q.house == c.house and jaro_winkler(q.address, c.address) >= 0.88:
        return NEAR
    return DISAGREE


def city(q: Prepared, c: Prepared) -> str | None:
    if not q.city or not c.city:
        return None
    if q.city == c.city:
        return EXACT
    return NEAR if near_names(q.city, c.city) else DISAGREE


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


def middle(q: Prepared, c: Prepared) -> str | None:
    if not q.middle or not c.middle:
        return None
    if q.middle == c.middle:
        return EXACT
    if (len(q.middle) == 1 or len(c.middle) == 1) and q.middle[0] == c.middle[0]:
        return INITIAL
    return NEAR if near_names(q.middle, c.middle) else DISAGREE


def suffix(q: Prepared, c: Prepared) -> str | None:
    if not q.suffix or not c.suffix:
        return None
    return EXACT if q.suffix == c.suffix else DISAGREE


COMPARATORS: tuple[tuple[str, Callable[[Prepared, Prepared], str | None]], ...] = (
    ("given", given), ("family", family), ("birth_date", birth_date), ("sex", sex), ("zip", zip_code),
    ("address", address), ("city", city), ("phone", phone), ("email", email), ("middle", middle),
    ("suffix", suffix),
)
FIELDS = tuple(name for name, _ in COMPARATORS)
