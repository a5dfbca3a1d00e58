"""Random codes and their digests; only digests are stored and every comparison is constant-time.

High-entropy tokens (invitation links) are stored as SHA-256. Short secrets (6-digit codes, office
PINs, security and proxy codes) would fall to a dictionary run over a plain hash, so they are stored
as HMAC-SHA-256 under the service's secret key (a pepper kept out of the database), with a purpose
and scope in the message so a digest from one place never verifies in another.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets

_READABLE = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud or typed from paper


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def new_digits(length: int = 6) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(length))


def new_readable_code(groups: int = 3, size: int = 4) -> str:
    """E.g. ``K7QM-4XPD-2RWE``: 60 bits, easy to read out over the phone."""
    return "-".join("".join(secrets.choice(_READABLE) for _ in range(size)) for _ in range(groups))


def normalise_code(value: str) -> str:
    """Codes are accepted in any case, with or without spaces and dashes."""
    return "".join(ch for ch in (value or "").upper() if ch.isalnum())


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def keyed_digest(pepper: str, purpose: str, scope: str, value: str) -> str:
    message = f"{purpose}\x1f{scope}\x1f{value}".encode("utf-8")
    return hmac.new(pepper.encode("utf-8"), message, hashlib.sha256).hexdigest()


def same(a: str | None, b: str | None) -> bool:
    """Constant-time equality of two digests; a missing side never matches."""
    if not a or not b:
        hmac.compare_digest("x", "y")  # keep the timing of a real comparison
        return False
    return hmac.compare_digest(a, b)
