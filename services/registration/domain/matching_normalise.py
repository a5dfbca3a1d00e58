"""Normalisation for identity matching: names, dates, zip codes, phones, emails and street lines.

Everything here is pure and cheap. ``prepare(person)`` turns a ``matching.Person`` into the
normalised record the comparators and blocking keys work on; it is cached, so a roster row compared
against many queries (or a query against many rows) is normalised once.

Sources of the data used here:
- nicknames: the ``nicknames`` package (PyPI; Apache-2.0; "Hand-curated dataset of English names and
  nicknames", github.com/carltonnorthern/nicknames), read lazily the first time a given name is
  normalised.
- street words: a subset of USPS Publication 28, appendix C1 (street suffixes) and the directionals and
  secondary unit designators of appendix C2, curated here.
- real given names: the 1990 US Census given-name lists in the ``names`` package (PyPI; MIT), so a
  twin's "Karl" is not taken for a typo of "Carl".
- transliteration: ``anyascii`` (PyPI; ISC) folds accents and other scripts to ASCII ("Núñez" -> "nunez",
  "Łukasz" -> "lukasz", "Straße" -> "strasse").
"""
from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from functools import cache, lru_cache
from typing import NamedTuple

import jellyfish
from anyascii import anyascii

# --- names -----------------------------------------------------------------------------------

_APOSTROPHES = re.compile(r"['`\u2018\u2019\u02bc]")
# lower-case ASCII -> letters kept, apostrophes dropped, everything else a space (str.translate is fast)
_NAME_TABLE = {i: (None if chr(i) in "'`" else chr(i) if "a" <= chr(i) <= "z" else " ") for i in range(128)}
_ADDRESS_TABLE = {i: (None if chr(i) in "'`" else chr(i) if chr(i).isalnum() else " ") for i in range(128)}
# generational suffixes dropped from the end of a name ("Smith Jr.", "John III")
_SUFFIXES = {"jr": "jr", "junior": "jr", "sr": "sr", "senior": "sr", "ii": "ii", "2nd": "ii", "iii": "iii",
             "3rd": "iii", "iv": "iv", "4th": "iv"}
# surname particles: kept in the joined form ("delacruz"), never a part on their own
_PARTICLES = frozenset({"de", "del", "della", "der", "den", "di", "da", "do", "dos", "das", "du", "la", "le",
                        "los", "las", "van", "von", "y", "e", "st", "ste", "mc", "mac", "bin", "ben", "ibn",
                        "al", "el", "ter", "ten", "op"})


def _fold(value: str) -> str:
    """Lower-case ASCII: accents and other scripts transliterated, curly apostrophes made straight."""
    if not value.isascii():
        value = anyascii(_APOSTROPHES.sub("'", value))
    return value.lower()


def normalise_name(value: str) -> str:
    """Lower-case ASCII words: accents folded, apostrophes dropped, other punctuation a space.

    "García-López" -> "garcia lopez"; "O'Brien" -> "obrien"; "  MARY  ann " -> "mary ann".
    """
    if not value:
        return ""
    return " ".join(_fold(value).translate(_NAME_TABLE).split())


def name_tokens(value: str) -> tuple[str, ...]:
    """The words of a normalised name without trailing generational suffixes."""
    return split_suffix(value)[0]


def split_suffix(value: str) -> tuple[tuple[str, ...], str]:
    """The words of a normalised name and the generational suffix that ended it ("Smith Jr." ->
    (("smith",), "jr"); "John III" -> (("john",), "iii")), or ""."""
    if not value:
        return (), ""
    tokens = _fold(value).translate(_NAME_TABLE).split()
    suffix = ""
    while len(tokens) > 1 and tokens[-1] in _SUFFIXES:
        suffix = suffix or _SUFFIXES[tokens[-1]]
        tokens.pop()
    return tuple(tokens), suffix


def family_parts(tokens: tuple[str, ...]) -> frozenset[str]:
    """The parts of a compound surname that can stand alone ("garcia lopez" -> {garcia, lopez})."""
    return frozenset(t for t in tokens if len(t) > 1 and t not in _PARTICLES)


@cache
def _nickname_groups() -> dict[str, frozenset[str]]:
    """name -> the name and every canonical name it is a nickname of (Bob -> {bob, robert})."""
    from nicknames import name_triplets  # the data file is read here, on first use only

    groups: dict[str, set[str]] = {}
    for row in name_triplets():
        if row.relationship != "has_nickname":
            continue
        canonical, nickname = row.name1.strip().lower(), row.name2.strip().lower()
        groups.setdefault(nickname, {nickname}).add(canonical)
        groups.setdefault(canonical, {canonical})
    return {name: frozenset(group) for name, group in groups.items()}


def given_group(first: str) -> frozenset[str]:
    """The name itself plus each canonical name it is a nickname of ("liz" -> {liz, elizabeth, ...})."""
    if not first:
        return frozenset()
    return _nickname_groups().get(first, frozenset((first,)))


@cache
def _census_given_names() -> frozenset[str]:
    """The 1990 US Census given names (5,494 of them, male and female), shipped in the ``names``
    package: what counts as a real given name besides the nicknames table."""
    import names  # the data files are read here, on first use only

    folder = Path(names.__file__).parent
    return frozenset(line.split()[0].lower() for file in ("dist.male.first", "dist.female.first")
                     for line in (folder / file).read_text().splitlines() if line.strip())


def known_given_name(name: str) -> bool:
    """A real given name: in the nicknames table (as a name or as a nickname) or the census's list."""
    return name in _nickname_groups() or name in _census_given_names()


def nickname_related(a: str, b: str) -> bool:
    """One is a nickname of the other, or both are nicknames of one name (Bob/Robert, Bob/Rob)."""
    return not given_group(a).isdisjoint(given_group(b))


def phonetic(value: str) -> str:
    """NYSIIS code (untruncated), the phonetic code used in blocking keys."""
    return jellyfish.nysiis(value) if value else ""


# --- dates, sex ------------------------------------------------------------------------------

# dates systems write when the real one is unknown: no evidence, and a blocking key shared by thousands
_PLACEHOLDER_DATES = frozenset({date(1900, 1, 1), date(1901, 1, 1), date(1800, 1, 1)})


def usable_birth_date(value: date | None) -> date | None:
    if value is None or value in _PLACEHOLDER_DATES or value.year < 1850:
        return None
    return value


_SEXES = {"m": "male", "male": "male", "man": "male", "boy": "male",
          "f": "female", "female": "female", "woman": "female", "girl": "female"}


def normalise_sex(value: str) -> str:
    """"male", "female" or "" ("other", "unknown" and blanks carry no evidence either way)."""
    return _SEXES.get((value or "").strip().lower(), "")


# --- zip, phone, email -----------------------------------------------------------------------

_DIGIT_RUNS = re.compile(r"\d+")


def normalise_zip(value: str | int | None) -> str:
    """Five digits or "": "12345-6789" -> "12345"; "123456789" -> "12345"; "2134" (a leading zero lost
    in a spreadsheet) -> "02134"."""
    if value is None:
        return ""
    value = str(value).strip()
    if len(value) == 5 and value.isdigit():
        return value
    runs = _DIGIT_RUNS.findall(value)
    if not runs:
        return ""
    first = runs[0]
    if len(first) in (5, 9):
        return first[:5]
    if len(runs) == 1 and len(first) in (3, 4):
        return first.zfill(5)
    return ""


# digits kept, an extension's start ("x", "ext", "#", ",", ";") marked "x", everything else dropped
_PHONE_TABLE = {i: (chr(i) if chr(i).isdigit() else "x" if chr(i) in "xXeE#,;" else None) for i in range(128)}


def normalise_phone(value: str | None) -> str:
    """Digits only: a US number as its 10 digits (a leading 1 dropped), a 7-digit local number as 7,
    anything longer (international) as all its digits; "" when unusable or a known placeholder.
    An extension ("x12", "ext. 12") is dropped."""
    if not value:
        return ""
    text = str(value)
    if not text.isascii():
        text = anyascii(text)
    digits = text.translate(_PHONE_TABLE).split("x", 1)[0]
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    if len(digits) < 7 or _placeholder_phone(digits):
        return ""
    return digits


def _placeholder_phone(digits: str) -> bool:
    local = digits[-7:]
    return (len(set(digits)) == 1 or len(set(local)) == 1   # 000-000-0000, 555-000-0000
            or digits in ("1234567890", "0123456789", "9876543210")
            or local == "5551212"                     # directory assistance
            or (local.startswith("55501")))           # 555-0100..0199, reserved for fiction


_JUNK_LOCAL = frozenset({"none", "noemail", "no", "na", "n/a", "unknown", "noreply", "no-reply", "declined",
                         "refused", "test", "null", "nomail", "donotemail", "patient"})
_JUNK_DOMAINS = frozenset({"none.com", "noemail.com", "nomail.com", "example.com", "example.org",
                           "example.net", "test.com", "invalid", "unknown.com", "na.com"})
_GMAIL = frozenset({"gmail.com", "googlemail.com"})


def normalise_email(value: str | None) -> str:
    """Lower-cased, "+tag" dropped, dots dropped for Gmail; "" when not an address or a placeholder
    ("none@none.com", "noemail@...")."""
    if not value:
        return ""
    value = value.strip().lower()
    local, at, domain = value.rpartition("@")
    if not at or not local or "." not in domain or " " in value:
        return ""
    local = local.split("+", 1)[0]
    if domain in _GMAIL:
        local, domain = local.replace(".", ""), "gmail.com"
    if not local or local in _JUNK_LOCAL or domain in _JUNK_DOMAINS or domain.endswith(".invalid"):
        return ""
    return f"{local}@{domain}"


# --- street line -----------------------------------------------------------------------------

_STREET_WORDS = {
    "street": "st", "str": "st", "avenue": "ave", "av": "ave", "avn": "ave", "road": "rd", "drive": "dr",
    "drv": "dr", "lane": "ln", "court": "ct", "crt": "ct", "place": "pl", "boulevard": "blvd",
    "circle": "cir", "circuit": "cir", "crescent": "cres", "terrace": "ter", "highway": "hwy",
    "parkway": "pkwy", "square": "sq", "trail": "trl", "way": "way", "close": "cl", "mount": "mt",
    "heights": "hts", "point": "pt", "expressway": "expy", "freeway": "fwy", "turnpike": "tpke",
    "north": "n", "south": "s", "east": "e", "west": "w", "northeast": "ne", "northwest": "nw",
    "southeast": "se", "southwest": "sw", "apartment": "apt", "suite": "ste", "unit": "unit",
    "number": "", "no": "",
}


_DIRECTIONALS = frozenset({"n", "s", "e", "w", "ne", "nw", "se", "sw"})


def address_words(value: str | None) -> list[str]:
    if not value:
        return []
    words = _fold(value).translate(_ADDRESS_TABLE).split()
    return [w for w in (_STREET_WORDS.get(w, w) for w in words) if w]


def normalise_address(value: str | None) -> str:
    """A street line as lower-case words with USPS abbreviations ("12 N. Main Street, Apt 4" ->
    "12 n main st apt 4")."""
    return " ".join(address_words(value))


# --- the prepared record ---------------------------------------------------------------------

class Prepared(NamedTuple):
    given: str                    # joined given name ("maryann")
    given_first: str              # first word of the given name
    given_words: frozenset[str]
    given_group: frozenset[str]   # first word and the names it is a nickname of
    middle: str
    family: str                   # joined surname ("garcialopez")
    family_parts: frozenset[str]  # {"garcia", "lopez"}
    family_codes: frozenset[str]  # NYSIIS of the joined surname and of each part
    birth_date: date | None
    dob: str                      # "YYYYMMDD" or ""
    sex: str
    zip: str
    city: str                     # joined words ("saint paul" -> "saintpaul")
    phone: str
    email: str
    address: str
    house: str                    # the street line's first number, if any
    street: str                   # the first letter of the street's name ("12 N Main St" -> "m")
    suffix: str                   # generational suffix: jr, sr, ii, iii, iv or ""


# A prepared record takes about 1.6 kB: 8,192 of them (~15 MB) cover the candidates of many queries
# at once, and a query compared with each of its candidates is normalised once.
@lru_cache(maxsize=8192)
def prepare(person) -> Prepared:
    """Normalise a ``matching.Person`` once (cached on the frozen value)."""
    given_words, given_suffix = split_suffix(person.given)
    family_words, family_suffix = split_suffix(person.family)
    family = "".join(family_words)
    parts = family_parts(family_words)
    if len(family_words) == 1 and parts:
        codes = frozenset((phonetic(family),))
    else:
        codes = frozenset(phonetic(x) for x in (parts | {family}) if x)
    first = given_words[0] if given_words else ""
    birth = usable_birth_date(person.birth_date)
    words = address_words(person.address)
    house = next((w for w in words if w.isdigit()), "")
    street = next((w[0] for w in words if not w.isdigit() and w not in _DIRECTIONALS), "")
    return Prepared(
        given="".join(given_words), given_first=first, given_words=frozenset(given_words),
        given_group=given_group(first), middle="".join(name_tokens(person.middle)) if person.middle else "",
        family=family, family_parts=parts, family_codes=codes,
        birth_date=birth, dob=birth.isoformat().replace("-", "") if birth else "",
        sex=normalise_sex(person.sex), zip=normalise_zip(person.zip),
        city="".join(address_words(person.city)) if person.city else "", phone=normalise_phone(person.phone),
        email=normalise_email(person.email), address=" ".join(words), house=house, street=street,
        suffix=family_suffix or given_suffix,
    )
