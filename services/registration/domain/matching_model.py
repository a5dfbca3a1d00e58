"""The Fellegi-Sunter model behind identity matching: m and u probabilities per field and level, and
the frequencies of names on the practice's roster. Pure Python, no I/O; ``roster.refresh_model`` stores
one per practice (``matching_models``) and recomputes it on every roster import.

A level's weight is ``log2(m / u)`` bits: ``m`` is how often a patient's own record shows that level
against what the patient typed, ``u`` how often two different people on the roster do. The weights of a
query's fields add up to the log-likelihood ratio of "this is the patient" against "two strangers";
``matching`` turns it into a posterior probability with the prior ``1 / roster size``.

**m** comes from the documented priors ``M_PRIORS`` below, not from the roster: a roster holds one
record per patient, so it has no true pairs to learn from (expectation-maximisation over its
near-duplicates would learn how duplicate charts differ, not how patients type). The figures are what
registration-desk and self-service studies report for US patients typing their own details: about 5 %
use a nickname, 2-4 % make a typo in a name, 1-2 % swap day and month, 8-10 % have moved since the office
last updated the chart (the Census Bureau's CPS puts a year's movers at 8-9 %, two thirds within the
county), 2-3 % changed surname (marriage).

**u** is estimated from the roster itself when it has at least ``MIN_ROSTER`` entries (below that the
priors ``U_PRIORS``, for a US practice, are used): for the exact level of birth date, zip, city and sex
it is the chance two random entries share the value (the sum of the squared value frequencies); for
the other levels the share of ``PAIRS`` random pairs from a seeded sample of the roster at that level,
smoothed towards the prior with ``SMOOTHING`` pseudo-pairs.

**Term frequencies**: an exact given or family name is weighed by how common that name is on the
roster, ``u = (count + 1) / (size + 1)`` smoothed towards the prior average for small rosters, so
"Smith" agreeing (1 % of a US roster: about 7 bits) is much weaker evidence than "Quarshie" (one in a
million: about 19 bits). The ``TOP_NAMES`` most common names of each kind are stored; any other name is
counted as common as the least common stored one (an upper bound: it never overstates the evidence).
The same table tells a real given name (two or more people on the roster, or in the nicknames table)
from a typo, which keeps a twin called "Karl" from passing for "Carl" with a typo.
"""
from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterable

from services.registration.domain.matching_fields import (COMPARATORS, DISAGREE, EXACT, INITIAL, NEAR, NICKNAME,
                                                          PARTIAL, SWAPPED, TYPO, YEAR, ZIP3)
from services.registration.domain.matching_normalise import (address_words, known_given_name, name_tokens,
                                                             normalise_sex, normalise_zip, prepare,
                                                             usable_birth_date)

VERSION = 1
MIN_ROSTER = 1000        # fewer entries: the u priors are used (names' frequencies are still counted)
MIN_POPULATION = 10_000  # the prior 1/N never assumes fewer people than this could be asking
SAMPLE = 3000            # roster entries sampled for the random pairs
PAIRS = 30_000           # random pairs whose levels estimate u
SMOOTHING = 20_000       # pseudo-pairs of prior behind each estimated u
TOP_NAMES = 20_000       # most common given and family names stored with the model
NAME_PRIOR_WEIGHT = 1000  # pseudo-entries of the prior average behind each name's frequency

# m: the chance of each level for a patient against their own record (see the module docstring)
M_PRIORS: dict[str, dict[str, float]] = {
    "given":      {EXACT: 0.87, NICKNAME: 0.05, PARTIAL: 0.01, NEAR: 0.035, INITIAL: 0.005, DISAGREE: 0.03},
    "family":     {EXACT: 0.92, PARTIAL: 0.01, NEAR: 0.04, DISAGREE: 0.03},
    "birth_date": {EXACT: 0.94, SWAPPED: 0.015, TYPO: 0.025, YEAR: 0.008, DISAGREE: 0.012},
    "sex":        {EXACT: 0.985, DISAGREE: 0.015},
    "zip":        {EXACT: 0.87, ZIP3: 0.07, DISAGREE: 0.06},
    "address":    {EXACT: 0.78, NEAR: 0.1, DISAGREE: 0.12},
    "city":       {EXACT: 0.88, NEAR: 0.04, DISAGREE: 0.08},
    "phone":      {EXACT: 0.8, NEAR: 0.04, DISAGREE: 0.16},
    "email":      {EXACT: 0.75, DISAGREE: 0.25},
    "middle":     {EXACT: 0.8, INITIAL: 0.12, NEAR: 0.03, DISAGREE: 0.05},
    "suffix":     {EXACT: 0.97, DISAGREE: 0.03},
}
# u: the chance of each level for two different people on a US practice's roster
U_PRIORS: dict[str, dict[str, float]] = {
    "given":      {EXACT: 0.008, NICKNAME: 0.002, PARTIAL: 0.0005, NEAR: 0.006, INITIAL: 0.07},
    "family":     {EXACT: 0.0007, PARTIAL: 0.0001, NEAR: 0.003},
    "birth_date": {EXACT: 0.000035, SWAPPED: 0.00003, TYPO: 0.0003, YEAR: 0.00007},
    "sex":        {EXACT: 0.5},
    "zip":        {EXACT: 0.05, ZIP3: 0.3},
    "address":    {EXACT: 0.0002, NEAR: 0.0002},
    "city":       {EXACT: 0.2, NEAR: 0.005},
    "phone":      {EXACT: 0.00001, NEAR: 0.00005},
    "email":      {EXACT: 0.000005},
    "middle":     {EXACT: 0.05, INITIAL: 0.1, NEAR: 0.01},
    "suffix":     {EXACT: 0.3},
}
_ANALYTIC = ("birth_date", "zip", "city", "sex")  # exact level: the sum of squared value frequencies


def _complete(u: dict[str, float]) -> dict[str, float]:
    """The levels' u with "disagree" as what is left (at least 1 %)."""
    rest = {level: p for level, p in u.items() if level != DISAGREE}
    return rest | {DISAGREE: max(0.01, 1.0 - sum(rest.values()))}


@dataclass(frozen=True)
class Model:
    size: int = 0                                  # roster entries it was estimated from (0: priors)
    m: dict[str, dict[str, float]] = field(default_factory=lambda: M_PRIORS)
    u: dict[str, dict[str, float]] = field(default_factory=lambda: {k: _complete(v) for k, v in U_PRIORS.items()})
    given_tf: dict[str, int] = field(default_factory=dict)   # the most common given names -> count
    family_tf: dict[str, int] = field(default_factory=dict)
    given_floor: int = 1                           # the count of a name not stored
    family_floor: int = 1

    @cached_property
    def weights(self) -> dict[str, dict[str, float]]:
        """Bits per field and level: log2(m / u)."""
        return {name: {level: math.log2(self.m[name][level] / max(self.u[name].get(level, 1e-9), 1e-9))
                       for level in self.m[name]} for name in self.m}

    @cached_property
    def prior_bits(self) -> float:
        """log2 of the prior odds that a query is one given roster entry: 1 / max(size, MIN_POPULATION)."""
        return -math.log2(max(self.size, MIN_POPULATION))

    def name_bits(self, kind: str, value: str) -> float:
        """The weight of an exact given or family name, by how common it is on the roster."""
        if not self.size:
            return self.weights[kind][EXACT]
        table, floor = (self.given_tf, self.given_floor) if kind == "given" else (self.family_tf, self.family_floor)
        count = table.get(value, floor)
        prior = U_PRIORS[kind][EXACT]
        u = (count + 1 + NAME_PRIOR_WEIGHT * prior) / (self.size + 1 + NAME_PRIOR_WEIGHT)
        return math.log2(self.m[kind][EXACT] / u)

    def is_given_name(self, value: str) -> bool:
        """A real given name: in the nicknames table, or borne by two or more people on the roster."""
        return known_given_name(value) or self.given_tf.get(value, 0) >= 2

    def as_dict(self) -> dict:
        return {"version": VERSION, "size": self.size, "m": self.m, "u": self.u, "given_tf": self.given_tf,
                "family_tf": self.family_tf, "given_floor": self.given_floor, "family_floor": self.family_floor}

    @classmethod
    def from_dict(cls, values: dict | None) -> "Model":
        if not values or values.get("version") != VERSION:
            return PRIOR
        return cls(size=values["size"], m=values["m"], u=values["u"], given_tf=values["given_tf"],
                   family_tf=values["family_tf"], given_floor=values["given_floor"],
                   family_floor=values["family_floor"])


PRIOR = Model()


def _top(counts: Counter, limit: int) -> tuple[dict[str, int], int]:
    common = counts.most_common(limit)
    floor = common[-1][1] if len(counts) > limit else 1
    return dict(common), floor


def _squares(counts: Counter, total: int) -> float:
    return sum(c * c for c in counts.values()) / (total * total) if total else 0.0


def estimate(people: Iterable, *, seed: int = 20261201) -> Model:
    """The model for a roster (an iterable of ``matching.Person``, read once): name frequencies over every
    entry, u from the roster when it is big enough, m from the priors."""
    rng = random.Random(seed)
    given, family = Counter(), Counter()
    values = {name: Counter() for name in _ANALYTIC}
    sample: list = []
    size = 0
    for person in people:
        size += 1
        given["".join(name_tokens(person.given))] += 1
        family["".join(name_tokens(person.family))] += 1
        values["birth_date"][usable_birth_date(person.birth_date)] += 1
        values["zip"][normalise_zip(person.zip)] += 1
        values["city"]["".join(address_words(person.city))] += 1
        values["sex"][normalise_sex(person.sex)] += 1
        if len(sample) < SAMPLE:  # reservoir sampling: every entry equally likely to be kept
            sample.append(person)
        elif (slot := rng.randrange(size)) < SAMPLE:
            sample[slot] = person
    given.pop("", None)
    family.pop("", None)
    given_tf, given_floor = _top(given, TOP_NAMES)
    family_tf, family_floor = _top(family, TOP_NAMES)
    if size < MIN_ROSTER:
        return Model(size=size, given_tf=given_tf, family_tf=family_tf, given_floor=given_floor,
                     family_floor=family_floor)
    u = _estimate_u([prepare(p) for p in sample], rng)
    for name in _ANALYTIC:
        counts = values[name]
        missing = counts.pop(None, 0) + counts.pop("", 0)
        if counts:
            u[name][EXACT] = max(_squares(counts, size - missing), 1e-7)
    return Model(size=size, u={name: _complete(levels) for name, levels in u.items()}, given_tf=given_tf,
                 family_tf=family_tf, given_floor=given_floor, family_floor=family_floor)


def _estimate_u(sample: list, rng: random.Random) -> dict[str, dict[str, float]]:
    """u per field and level from random pairs of the sample, smoothed towards the priors."""
    seen = {name: Counter() for name, _ in COMPARATORS}
    compared = Counter()
    if len(sample) >= 2:
        for _ in range(PAIRS):
            a, b = rng.sample(sample, 2)
            for name, comparator in COMPARATORS:
                level = comparator(a, b)
                if level is not None:
                    seen[name][level] += 1
                    compared[name] += 1
    return {name: {level: (seen[name][level] + SMOOTHING * prior) / (compared[name] + SMOOTHING)
                   for level, prior in U_PRIORS[name].items()} for name in U_PRIORS}
