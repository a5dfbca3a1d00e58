"""Random secrets and their digests. Only digests are stored; comparisons are constant-time."""
from __future__ import annotations

import hashlib
import hmac
import secrets


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def digest(secret: str) -> str:
    """SHA-256 of a high-entropy secret. A slow hash would add nothing for 256 random bits."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def matches(secret: str | None, expected_digest: str | None) -> bool:
    if not secret or not expected_digest:
        return False
    return hmac.compare_digest(digest(secret), expected_digest)
