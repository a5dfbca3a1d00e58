"""Password hashing with argon2id at OWASP's parameters (19 MiB, 2 iterations, 1 lane).

An unknown username costs the same hash as a known one (``verify_or_dummy``), so timing does not
tell them apart. Hashes made with older parameters are replaced at the next successful sign-in.
"""
from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, hash_len=32, salt_len=16)
_DUMMY_HASH = HASHER.hash("carekey dummy password used to equalise timing")


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def verify_or_dummy(stored_hash: str | None, password: str) -> bool:
    """True when *password* matches; runs one full hash either way."""
    try:
        return HASHER.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return HASHER.check_needs_rehash(stored_hash)
