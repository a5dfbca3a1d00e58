"""The Fellegi-Sunter model (matching_model) and the search's look-alike guards (matching.rank): pure,
no I/O. Each look-alike is a row that must never come out certain."""
from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import date, timedelta

import pytest

from services.registration.domain.matching import (CERTAIN, CERTAINLY_NOT, PRIOR, PROBABLE, Person, compare,
                                                   rank)
from services.registration.domain.matching_model import MIN_ROSTER, Model, U_PRIORS, estimate

GIVEN = ["Robert", "Mary", "James", "Linda", "John", "Patricia", "Michael", "Susan", "David", "Karen"]


def _roster(size: int, seed: int = 5) -> list[Person]:
    """A practice-like roster: Smith is 2 % of it, Robert 10 %, one Quarshie, dates over 80 years."""
    rng = random.Random(seed)
    people = [Person(given="Ama", family="Quarshie", birth_date=date(1979, 4, 2), zip="02134")]
    for i in range(size - 1):
        family = "Smith" if i % 50 == 0 else f"{rng.choice('BCDFGKLMPRST')}{rng.choice('aeiou')}{i:05d}ford"
        people.append(Person(given=GIVEN[i % len(GIVEN)], family=family, sex=rng.choice(("male", "female")),
                             birth_date=date(1940, 1, 1) + timedelta(days=rng.randrange(80 * 365)),
                             zip=f"021{rng.randrange(40):02d}", city=rng.choice(("Boston", "Brookline"))))
    return people


@pytest.fixture(scope="module")
def model() -> Model:
    return estimate(_roster(5000))


def test_a_common_name_agreeing_is_weaker_evidence_than_a_rare_one(model):
    assert model.size == 5000 and model.family_tf["smith"] == 100
    smith, quarshie = model.name_bits("family", "smith"), model.name_bits("family", "quarshie")
    assert quarshie > smith + 5
    assert model.name_bits("given", "robert") < model.name_bits("given", "ama")


def test_u_is_estimated_from_the_roster(model):
    # 40 zips, two cities: agreeing on them is far commoner between strangers than the US priors say
    assert model.u["zip"]["exact"] == pytest.approx(1 / 40, rel=0.2)
    assert model.u["city"]["exact"] == pytest.approx(0.5, rel=0.1)
    assert model.u["birth_date"]["exact"] < 0.001
    assert all(abs(sum(levels.values()) - 1) < 1e-9 for levels in model.u.values())


def test_a_moved_patient_is_certain_with_a_rare_name_and_probable_with_a_common_one(model):
    rare = Person(given="Ama", family="Quarshie", birth_date=date(1979, 4, 2), zip="98101")
    assert compare(rare, Person(given="Ama", family="Quarshie", birth_date=date(1979, 4, 2), zip="02134"),
                   model=model).grade == CERTAIN
    smith = Person(given="Robert", family="Smith", birth_date=date(1970, 1, 30), zip="02101")
    assert compare(replace(smith, zip="98101"), smith, model=model).grade == PROBABLE
    assert compare(smith, smith, model=model).grade == CERTAIN


def test_the_model_is_deterministic_and_survives_json(model):
    again = estimate(_roster(5000))
    assert again.as_dict() == model.as_dict()
    stored = Model.from_dict(json.loads(json.dumps(model.as_dict())))
    assert stored.weights == model.weights and stored.name_bits("family", "smith") == model.name_bits("family", "smith")
    assert Model.from_dict(None) is PRIOR and Model.from_dict({"version": 0}) is PRIOR


def test_a_small_roster_keeps_the_priors_but_counts_names():
    small = estimate(_roster(MIN_ROSTER - 1))
    assert small.u["zip"]["exact"] == U_PRIORS["zip"]["exact"]
    assert small.family_tf["smith"] == 20


# --- the search's look-alike guards ---------------------------------------------------------------

HOME = dict(zip="94110", address="77 Valencia St", phone="415-555-3030")
CARL = Person(given="Carl", family="Nguyen", birth_date=date(2015, 3, 4), sex="male", **HOME)
KARL = replace(CARL, given="Karl")
ELIZA = Person(given="Eliza", family="Nguyen", birth_date=date(1985, 6, 12), sex="female", **HOME)
EMMA = replace(ELIZA, given="Emma", birth_date=date(1985, 6, 13))          # her sister, born a day later
SENIOR = Person(given="Robert", family="Smith", birth_date=date(1961, 5, 20), sex="male", zip="60614",
                address="400 W Fullerton Pkwy")
JUNIOR = replace(SENIOR, birth_date=date(1989, 9, 14))

# (id, query, roster entries, the roster entry that must not be certain (None: none may be))
LOOK_ALIKES = [
    ("twin-on-roster-typed-exactly-near-name-twin", CARL, [CARL, KARL], None),
    ("twin-typo-matching-neither", replace(CARL, given="Carll"), [CARL, KARL], None),
    ("household-member-has-the-typed-date", replace(ELIZA, birth_date=EMMA.birth_date), [ELIZA, EMMA], None),
    ("senior-with-a-date-typo", replace(SENIOR, birth_date=date(1961, 5, 21)), [SENIOR, JUNIOR], None),
    ("junior-not-on-roster", JUNIOR, [SENIOR], None),
    ("same-name-same-date-strangers", replace(SENIOR, address=""), [SENIOR, replace(SENIOR, zip="60657",
                                                                                      address="9 Elm St")], None),
]


@pytest.mark.parametrize(("query", "entries"), [row[1:3] for row in LOOK_ALIKES], ids=[row[0] for row in LOOK_ALIKES])
def test_a_look_alike_is_never_certain(query, entries):
    ranked = rank(query, list(enumerate(entries)))
    assert all(match.grade != CERTAIN for _, match in ranked), ranked


def test_the_right_one_of_a_look_alike_pair_is_certain_when_typed_exactly():
    ranked = rank(JUNIOR, [("senior", SENIOR), ("junior", JUNIOR)])
    assert ranked[0][0] == "junior" and ranked[0][1].grade == CERTAIN
    ranked = rank(ELIZA, [("emma", EMMA), ("eliza", ELIZA)])
    assert ranked[0][0] == "eliza" and ranked[0][1].grade == CERTAIN


def test_a_close_second_takes_the_first_ones_probability():
    alone = rank(replace(CARL, given="Carll"), [("carl", CARL)])
    assert alone[0][1].grade == CERTAIN
    both = rank(replace(CARL, given="Carll"), [("carl", CARL), ("karl", KARL)])
    assert both[0][1].score < alone[0][1].score
    assert {grade for _, m in both for grade in (m.grade,)} <= {PROBABLE, "possible", CERTAINLY_NOT}
