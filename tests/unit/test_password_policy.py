"""The password policy, rule by rule (NIST SP 800-63B), and the legacy rules a practice may keep."""
from __future__ import annotations

import pytest

from services.identity.domain.password_policy import (Policy, breached_passwords, legacy_policy, problems,
                                                      strength_hint)

NIST = Policy("nist")


def test_breached_list_ships_at_least_100000_entries():
    listed = breached_passwords()
    assert len(listed) >= 100_000 and "123456" in listed and "password" in listed


@pytest.mark.parametrize("password", [
    "correct horse battery staple",
    "a" * 15 + " " + "b" * 10,                # spaces allowed
    "Ünïcödé pässwörd with àccents",            # any printable character
    "#%&*!@^()[]{}<>?/\\|;:'\",.~`",            # every symbol
    "x" * 1024,                                  # long ones allowed
])
def test_acceptable_passwords(password):
    assert problems(password, NIST) == []


def test_fifteen_characters_when_the_only_factor_eight_with_a_second():
    assert problems("fourteen chars", NIST)          # 14
    assert problems("fifteen charsxx", NIST) == []   # 15
    assert problems("eightchr", NIST, has_second_factor=True) == []
    assert problems("sevench", NIST, has_second_factor=True)


def test_no_composition_rules():
    assert problems("all lower case letters here", NIST) == []


def test_at_least_64_allowed_and_a_ceiling_exists():
    assert problems("y" * 64, NIST) == [] and problems("z" * 1025, NIST)


@pytest.mark.parametrize("password", ["Password", "ILOVEYOU", "QwErTy123", "1q2w3e4r5t6y"])
def test_breached_passwords_are_refused_case_insensitively(password):
    assert any("breach" in p for p in problems(password, NIST))


def test_a_breached_short_password_is_refused_even_under_legacy_rules():
    assert any("breach" in p for p in problems("Password1", legacy_policy("seed-001")))


@pytest.mark.parametrize("kwargs", [
    {"username": "patlee2024"}, {"email": "pat.lee@example.org"}, {"names": ("Patricia", "Leeward")},
])
def test_username_email_or_name_inside_the_password_is_refused(kwargs):
    password = "my patlee2024 pat.lee patricia leeward secret phrase"
    assert any("username, email or name" in p for p in problems(password, NIST, **kwargs))


def test_control_characters_are_refused():
    assert problems("fine looking password\x00here", NIST)


def test_legacy_seed_001_rules_for_a_migrating_practice():
    legacy = legacy_policy("seed-001")
    assert problems("qzv12x", legacy) == []              # 6 characters with a number
    assert problems("qzvbwZ", legacy) == []              # or a capital
    assert problems("qzvbwx", legacy)                    # neither
    assert problems("ab#12x", legacy)                    # a forbidden special character
    assert problems("ab1", legacy)                       # too short


def test_legacy_seed_003_rules():
    legacy = legacy_policy("seed-003")
    assert problems("Tqzvbmw7", legacy) == [] and problems("tqzvbmw7", legacy) and problems("Tqzvbmwx", legacy)


def test_unknown_legacy_rules_are_refused():
    with pytest.raises(ValueError):
        legacy_policy("anything-goes")


def test_strength_hint_rewards_length():
    assert strength_hint("") == "" and strength_hint("short") == "Too short."
    assert strength_hint("a" * 30) == "Strong length."
