"""A census-style data set for identity matching, generated from a seed (the same seed gives the same set).

A synthetic practice area of households, a roster holding some of their members, and queries typed the
way patients type them on the identification page (given name, family name, date of birth, zip), plus
queries from people who are not on the roster, so that both recall and the false-match rate can be
measured, with the look-alikes broken down.

Population (names from the 1990 US Census name files shipped in the ``names`` package, drawn by their
frequency; nicknames from the ``nicknames`` table):

- households of 1-6 people (US ACS shares: 28 % one person, 35 % two, 15 % three, 13 % four, 9 % more),
  sharing a surname (one partner in ten keeps another), a street address, a zip and a landline; zips
  from 40 codes in four three-digit areas, weighted like a practice's catchment (Zipf);
- children born to the household: twins in 3 % of births (US: 3.1 %), each twin with their own given
  name; a son named after his father ("Jr.") in 4 % of sons, the suffix on file for half of them;
- each person is a patient of the practice with probability 0.6, so households are partly on the roster
  and the others are look-alikes asking (twins, parents and children of one name, spouses).

Noise on a patient's query, each drawn independently (rates from what is published for self-reported
identifiers; the same whether the matcher likes them or not; pseudopeople's noise types):

==========================================  =====  ============================================
noise                                        rate   source / reasoning
==========================================  =====  ============================================
moved since the roster was updated           9 %    CPS 2019-22: 8-9 % of people move in a year;
(new address and zip; 2/3 within the area)          two thirds of moves are within the county
goes by a nickname (when the name has one)   8 %    nicknames table; Bob/Robert, Liz/Elizabeth
given name typo (one edit)                   2 %    keyboard slips: substitution, insertion,
family name typo (one edit)                  2 %    deletion, adjacent transposition
new surname (married; adult women)           3 %    roughly 2 % of adults marry in a year
day and month swapped                        1 %    pseudopeople's swap_month_and_day default
one birth-date digit wrong                   1 %    pseudopeople's write_wrong_digits
two adjacent birth-date digits swapped       0.5 %
birth year one off                           0.5 %
a household member's birth date              0.5 %  pseudopeople's copy_from_household_member
zip typo (one digit)                         1 %
==========================================  =====  ============================================

About three queries in four come out exactly as on file. Non-patient queries get the same noise.
Kinds of non-patient query: a stranger from the area; a household member of a patient who is not a
patient (twin, parent or child of one name, spouse, sibling); and a same-name stranger (a patient's
given and family name, another person's birth date, half of them in the same zip).
"""
from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass, replace
from datetime import date, timedelta
from functools import cache
from pathlib import Path

NOISE = {"moved": 0.09, "nickname": 0.08, "given_typo": 0.02, "family_typo": 0.02, "married": 0.03,
         "dob_swap": 0.01, "dob_digit": 0.01, "dob_transpose": 0.005, "dob_year": 0.005, "dob_household": 0.005,
         "zip_typo": 0.01}
HOUSEHOLD_SIZES = ((1, 0.28), (2, 0.35), (3, 0.15), (4, 0.13), (5, 0.06), (6, 0.03))
TWIN_RATE, JUNIOR_RATE, PATIENT_RATE = 0.031, 0.04, 0.6
STREETS = ("St", "Ave", "Rd", "Dr", "Ln", "Ct", "Pl", "Way", "Blvd", "Ter")
LETTERS = "abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class Member:
    """One person of the synthetic population."""
    pid: int
    household: int
    given: str
    family: str
    birth_date: date
    sex: str
    zip: str
    address: str
    city: str
    phone: str
    suffix: str = ""        # "Jr" for a son named after his father
    twin_of: int | None = None
    junior_of: int | None = None


@cache
def _names() -> dict[str, tuple[list[str], list[float]]]:
    """The census name files in the ``names`` package: name -> cumulative frequency."""
    import names

    folder = Path(names.__file__).parent
    found = {}
    for kind, file in (("male", "dist.male.first"), ("female", "dist.female.first"), ("family", "dist.all.last")):
        values, cumulative = [], []
        for line in (folder / file).read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3:
                values.append(parts[0].title())
                cumulative.append(float(parts[2]))
        found[kind] = (values, cumulative)
    return found


def _draw(rng: random.Random, kind: str) -> str:
    values, cumulative = _names()[kind]
    return values[min(len(values) - 1, bisect.bisect_left(cumulative, rng.random() * cumulative[-1]))]


@cache
def _nicknames() -> dict[str, list[str]]:
    from nicknames import name_triplets

    found: dict[str, list[str]] = {}
    for row in name_triplets():
        if row.relationship == "has_nickname":
            found.setdefault(row.name1.strip().lower(), []).append(row.name2.strip().lower())
    return {name: sorted(set(nicks)) for name, nicks in found.items()}


class Area:
    """Zips, cities and streets of the practice's area."""

    def __init__(self, rng: random.Random) -> None:
        areas = [f"{rng.randrange(100, 999)}" for _ in range(4)]
        self.zips = [f"{areas[i % 4]}{rng.randrange(100):02d}" for i in range(40)]
        self.weights = [1 / (i + 1) for i in range(40)]  # Zipf: a few zips hold most patients
        self.cities = {z: _draw(rng, "family") + rng.choice(("ville", " Springs", "ton", " Falls", "")) for z in self.zips}
        self.streets = [_draw(rng, "family") for _ in range(300)]

    def address(self, rng: random.Random, near: str | None = None) -> tuple[str, str, str]:
        zip_ = rng.choices(self.zips, self.weights)[0]
        if near is not None:
            zip_ = rng.choice([z for z in self.zips if z[:3] == near[:3] and z != near] or [zip_])
        street = f"{rng.randrange(1, 9999)} {rng.choice(self.streets)} {rng.choice(STREETS)}"
        return zip_, street, self.cities[zip_]


def _phone(rng: random.Random) -> str:
    return f"{rng.randrange(201, 990)}{rng.randrange(200, 999)}{rng.randrange(10000):04d}"


def _birth(rng: random.Random, low: int, high: int, today: date) -> date:
    return today - timedelta(days=rng.randrange(low * 365, high * 365 + 364))


def population(rng: random.Random, people: int, area: Area, today: date = date(2026, 1, 1)) -> list[Member]:
    """Households until there are ``people`` members."""
    members: list[Member] = []
    pid = itertools.count()
    for household in itertools.count():
        if len(members) >= people:
            return members
        size = rng.choices([s for s, _ in HOUSEHOLD_SIZES], [w for _, w in HOUSEHOLD_SIZES])[0]
        family = _draw(rng, "family")
        zip_, address, city = area.address(rng)
        phone = _phone(rng)
        home = dict(household=household, zip=zip_, address=address, city=city, phone=phone)
        head_sex = rng.choice(("male", "female"))
        head = Member(next(pid), given=_draw(rng, head_sex), family=family, sex=head_sex,
                      birth_date=_birth(rng, 22, 90, today), **home)
        members.append(head)
        adults = [head]
        if size >= 2:
            sex = "female" if head_sex == "male" else "male"
            partner_family = family if rng.random() < 0.9 else _draw(rng, "family")
            born = head.birth_date + timedelta(days=rng.randrange(-5 * 365, 5 * 365))
            partner = Member(next(pid), given=_draw(rng, sex), family=partner_family, sex=sex,
                             birth_date=min(born, today - timedelta(days=18 * 365)), **home)
            members.append(partner)
            adults.append(partner)
        father = next((a for a in adults if a.sex == "male"), None)
        youngest_parent = min(a.birth_date for a in adults)
        children = size - len(adults)
        while children > 0:
            age_cap = max(1, min(25, (today - max(a.birth_date for a in adults)).days // 365 - 18))
            born = _birth(rng, 0, age_cap, today)
            born = max(born, youngest_parent + timedelta(days=18 * 365))
            twins = children >= 2 and rng.random() < TWIN_RATE
            first = None
            for _ in range(2 if twins else 1):
                sex = rng.choice(("male", "female"))
                given = _draw(rng, sex)
                taken = {m.given for m in members if m.household == household}
                while given in taken:
                    given = _draw(rng, sex)
                junior_of = None
                if sex == "male" and father is not None and first is None and rng.random() < JUNIOR_RATE \
                        and not any(m.given == father.given for m in members
                                    if m.household == household and m.pid != father.pid):
                    given, junior_of = father.given, father.pid
                child = Member(next(pid), given=given, family=family, sex=sex, birth_date=born,
                               suffix="Jr" if junior_of is not None else "", twin_of=first.pid if first else None,
                               junior_of=junior_of, **home)
                members.append(child)
                first = first or child
                children -= 1


# --- noise -------------------------------------------------------------------------------------

def _typo(rng: random.Random, word: str) -> str:
    if len(word) < 3:
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(("substitute", "insert", "delete", "transpose"))
    if kind == "substitute":
        return word[:i] + rng.choice(LETTERS) + word[i + 1:]
    if kind == "insert":
        return word[:i] + rng.choice(LETTERS) + word[i:]
    if kind == "delete":
        return word[:i] + word[i + 1:]
    return word[:i - 1] + word[i] + word[i - 1] + word[i + 1:]


def _digit(rng: random.Random, born: date, transpose: bool) -> date:
    text = born.strftime("%Y%m%d")
    for _ in range(20):
        i = rng.randrange(2, 8)
        if transpose:
            i = min(i, 6)
            changed = text[:i] + text[i + 1] + text[i] + text[i + 2:]
        else:
            changed = text[:i] + str(rng.randrange(10)) + text[i + 1:]
        try:
            value = date(int(changed[:4]), int(changed[4:6]), int(changed[6:]))
        except ValueError:
            continue
        if value != born:
            return value
    return born


@dataclass(frozen=True)
class Query:
    """What was typed, who typed it, and what was done to it."""
    given: str
    family: str
    birth_date: date
    zip: str
    person: int             # the member who typed it
    noise: tuple[str, ...]


def noisy(rng: random.Random, member: Member, household: list[Member], area: Area) -> Query:
    given, family, born, zip_ = member.given, member.family, member.birth_date, member.zip
    done: list[str] = []
    if rng.random() < NOISE["moved"]:
        zip_ = area.address(rng, near=zip_ if rng.random() < 2 / 3 else None)[0]
        done.append("moved")
    nicks = _nicknames().get(given.lower())
    if nicks and rng.random() < NOISE["nickname"]:
        given = rng.choice(nicks).title()
        done.append("nickname")
    if rng.random() < NOISE["given_typo"]:
        given = _typo(rng, given)
        done.append("given_typo")
    if rng.random() < NOISE["family_typo"]:
        family = _typo(rng, family)
        done.append("family_typo")
    if member.sex == "female" and (date(2026, 1, 1) - born).days > 18 * 365 and rng.random() < NOISE["married"]:
        family = _draw(rng, "family")
        done.append("married")
    if rng.random() < NOISE["dob_swap"] and born.day <= 12 and born.day != born.month:
        born = born.replace(month=born.day, day=born.month)
        done.append("dob_swap")
    if rng.random() < NOISE["dob_digit"]:
        born = _digit(rng, born, transpose=False)
        done.append("dob_digit")
    if rng.random() < NOISE["dob_transpose"]:
        born = _digit(rng, born, transpose=True)
        done.append("dob_transpose")
    if rng.random() < NOISE["dob_year"]:
        born = born.replace(year=born.year + rng.choice((-1, 1)), day=min(born.day, 28))
        done.append("dob_year")
    others = [m for m in household if m.pid != member.pid and m.birth_date != member.birth_date]
    if others and rng.random() < NOISE["dob_household"]:
        born = rng.choice(others).birth_date
        done.append("dob_household")
    if rng.random() < NOISE["zip_typo"]:
        i = rng.randrange(1, 5)
        zip_ = zip_[:i] + str((int(zip_[i]) + rng.randrange(1, 10)) % 10) + zip_[i + 1:]
        done.append("zip_typo")
    if member.suffix and rng.random() < 0.5:
        family = f"{family} {member.suffix}"
    return Query(given, family, born, zip_, member.pid, tuple(done))


# --- the data set --------------------------------------------------------------------------------

@dataclass
class CensusStyle:
    roster: dict[int, Member]          # pid -> what the office has on file
    patients: list[Query]              # queries typed by people on the roster
    non_patients: list[tuple[str, Query]]  # (kind, query) typed by people who are not
    members: dict[int, Member]


def look_alike(member: Member, others: list[Member]) -> str | None:
    """The kind of look-alike *member* has among *others* (twin, parent/child of one name, household)."""
    for other in others:
        if other.pid == member.pid:
            continue
        if member.twin_of == other.pid or other.twin_of == member.pid:
            return "twin"
        if member.junior_of == other.pid or other.junior_of == member.pid:
            return "junior/senior"
    return "household" if any(o.pid != member.pid for o in others) else None


def generate(seed: int, people: int = 40_000, patient_queries: int = 5000, non_patient_queries: int = 2000,
             on_file: bool = True) -> CensusStyle:
    """A roster of about 0.6 x ``people`` entries, ``patient_queries`` patients' queries and
    ``non_patient_queries`` others' (half strangers, a third household members, a sixth same-name
    strangers). The roster's entries keep the suffix in the family name for half of the juniors."""
    rng = random.Random(seed)
    area = Area(rng)
    members = population(rng, people, area)
    by_household: dict[int, list[Member]] = {}
    for m in members:
        by_household.setdefault(m.household, []).append(m)
    roster: dict[int, Member] = {}
    for m in members:
        if rng.random() < PATIENT_RATE:
            family = f"{m.family} {m.suffix}" if m.suffix and on_file and rng.random() < 0.5 else m.family
            roster[m.pid] = replace(m, family=family)
    patients = [noisy(rng, members[pid], by_household[members[pid].household], area)
                for pid in rng.sample(sorted(roster), min(patient_queries, len(roster)))]
    outsiders = [m for m in members if m.pid not in roster]
    relatives = [m for m in outsiders if any(o.pid in roster for o in by_household[m.household])]
    non_patients: list[tuple[str, Query]] = []
    for i in range(non_patient_queries):
        kind = ("stranger", "household member", "stranger", "same-name stranger", "household member", "stranger")[i % 6]
        if kind == "same-name stranger":
            model = members[rng.choice(sorted(roster))]
            zip_ = model.zip if rng.random() < 0.5 else area.address(rng)[0]
            born = _birth(rng, 0, 90, date(2026, 1, 1))
            person = replace(model, pid=-1 - i, household=-1, birth_date=born, zip=zip_, twin_of=None, junior_of=None)
            non_patients.append((kind, noisy(rng, person, [person], area)))
            continue
        person = rng.choice(relatives if kind == "household member" else outsiders)
        if kind == "household member":
            kind = look_alike(person, [o for o in by_household[person.household] if o.pid in roster]) or kind
        non_patients.append((kind, noisy(rng, person, by_household[person.household], area)))
    # and every twin and parent/child of one name, on either side of the roster, asks too
    sampled = {q.person for q in patients}
    for m in members:
        kind = look_alike(m, [o for o in by_household[m.household] if o.pid in roster])
        if kind not in ("twin", "junior/senior"):
            continue
        if m.pid in roster and m.pid not in sampled:
            patients.append(noisy(rng, m, by_household[m.household], area))
        elif m.pid not in roster:
            non_patients.append((kind, noisy(rng, m, by_household[m.household], area)))
    return CensusStyle(roster, patients, non_patients, {m.pid: m for m in members})
