"""Paging links that cannot be read or changed: the page's state (who asked, for whom, which
search, where it stands) sealed with AES-256-GCM under a key derived from the service secret.

A link carries only an opaque ``_cursor``; opening it fails on any change, after ``ttl`` seconds,
and — checked by the gateway — when the token presenting it is not the one it was made for.
"""
from __future__ import annotations

import base64
import json
import os
import time
from typing import Any, Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from services.records.errors import InvalidCursor

_INFO = b"carekey records paging cursor v1"
_AAD = b"records-cursor-v1"
MAX_LENGTH = 4096


class CursorCodec:
    def __init__(self, secret: str, *, ttl: int = 3600, clock: Callable[[], float] = time.time) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret.encode())
        self._aead = AESGCM(key)
        self.ttl, self.clock = ttl, clock

    def seal(self, state: dict[str, Any]) -> str:
        payload = json.dumps({**state, "exp": int(self.clock()) + self.ttl}, separators=(",", ":")).encode()
        nonce = os.urandom(12)
        return base64.urlsafe_b64encode(nonce + self._aead.encrypt(nonce, payload, _AAD)).rstrip(b"=").decode()

    def open(self, token: str) -> dict[str, Any]:
        if not token or len(token) > MAX_LENGTH:
            raise InvalidCursor()
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            state = json.loads(self._aead.decrypt(raw[:12], raw[12:], _AAD))
        except (ValueError, InvalidTag, TypeError):
            raise InvalidCursor() from None
        if not isinstance(state, dict) or not isinstance(state.get("exp"), int) or state["exp"] < self.clock():
            raise InvalidCursor()
        return state
