"""The password policy (NIST SP 800-63B §5.1.1.2, OWASP ASVS V2.1), and the legacy rules a
practice may keep for a migration.

Current practice: at least 15 characters when the password is the only factor, 8 when a second
factor is enrolled; up to 1,024 allowed; every printable character and spaces; no composition
rules; refused when it is one of the 100,000 most common breached passwords or contains the
username, the email's local part or the person's name.
"""
from __future__ import annotations

import gzip
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

BREACHED_LIST = Path(__file__).resolve().parent.parent / "data" / "breached-passwords-100k.txt.gz"
MAX_LENGTH = 1024


@lru_cache(maxsize=1)
def breached_passwords() -> frozenset[str]:
    with gzip.open(BREACHED_LIST, "rt", encoding="utf-8") as handle:
        return frozenset(line.rstrip("\n") for line in handle if line.strip())


@dataclass(frozen=True)
class Policy:
    name: str
    min_length: int = 15
    min_length_with_second_factor: int = 8
    legacy: str | None = None  # a seed's composition rules, for a practice's migration only


LEGACY_RULES = {
    # seed 001: "at least 6 characters, at least one number OR an upper case letter, no special
    # characters (#%&*)"
    "seed-001": "At least 6 characters, with a number or a capital letter, and none of # % & *.",
    # seed 003: "minimum of 8 characters and one UPPERCASE letter and a number or symbol"
    "seed-003": "At least 8 characters, with a capital letter and a number or symbol.",
}


def legacy_policy(name: str) -> Policy:
    if name == "seed-001":
        return Policy(name, min_length=6, min_length_with_second_factor=6, legacy=name)
    if name == "seed-003":
        return Policy(name, min_length=8, min_length_with_second_factor=8, legacy=name)
    raise ValueError(f"unknown legacy password policy {name!r}; known: {', '.join(LEGACY_RULES)}")


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def problems(password: str, policy: Policy, *, has_second_factor: bool = False, username: str | None = None,
             email: str | None = None, names: tuple[str | None, ...] = ()) -> list[str]:
    """Why *password* is not acceptable, in words for the person choosing it (empty when fine)."""
    found = []
    minimum = policy.min_length_with_second_factor if has_second_factor else policy.min_length
    length = len(password)
    if length < minimum:
        found.append(f"Use at least {minimum} characters. A few unrelated words make a strong, memorable password.")
    if length > MAX_LENGTH:
        found.append(f"Use at most {MAX_LENGTH} characters.")
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in password):
        found.append("Use printable characters only (spaces are fine).")
    normalised = _normalise(password)
    if normalised in breached_passwords() or normalised.strip() in breached_passwords():
        found.append("This password is on a list of passwords exposed in data breaches. Choose another.")
    context = [username, (email or "").split("@")[0], *names]
    for item in context:
        if item and len(item.strip()) >= 3 and _normalise(item.strip()) in normalised:
            found.append("Don't use your username, email or name in your password.")
            break
    if policy.legacy:
        found.extend(_legacy_problems(password, policy.legacy))
    return found


def _legacy_problems(password: str, name: str) -> list[str]:
    if name == "seed-001":
        if not any(c.isdigit() or c.isupper() for c in password):
            return ["Include a number or a capital letter (your practice's rule)."]
        if any(c in "#%&*" for c in password):
            return ["Don't use # % & or * (your practice's rule)."]
    if name == "seed-003":
        if not any(c.isupper() for c in password) or not any(not c.isalpha() for c in password):
            return ["Include a capital letter and a number or symbol (your practice's rule)."]
    return []


def strength_hint(password: str) -> str:
    """A short, honest hint shown as the person types (length matters most)."""
    length = len(password)
    if length == 0:
        return ""
    if length < 8:
        return "Too short."
    if length < 15:
        return "Getting there: longer is stronger."
    if length < 24:
        return "Good length."
    return "Strong length."
