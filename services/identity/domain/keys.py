"""Signing keys: generated at first start, private parts encrypted at rest (AES-256-GCM with the
key-encryption key from settings), rotated by publishing the next key before it signs anything,
and retired keys kept in the JWKS until every token they signed has expired.

States: ``next`` (published, not signing) → ``active`` (signing) → ``retired`` (published until
``publish_until``) → removed.
"""
from __future__ import annotations

import base64
import json
import os
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from services.identity.db.models import SigningKey
from services.identity.domain.time import aware, now

ALGORITHMS = ("ES256", "RS256")
_ENSURE_LOCK = 0x63617265  # any constant: serialises first-start key generation on PostgreSQL


@dataclass(frozen=True)
class LoadedKey:
    kid: str
    alg: str
    private: object  # a joserfc key


def _generate(alg: str):
    if alg == "ES256":
        return ECKey.generate_key("P-256", private=True)
    if alg == "RS256":
        return RSAKey.generate_key(2048, private=True)
    raise ValueError(f"unsupported algorithm {alg}")


def _import(alg: str, data: dict):
    return (ECKey if alg == "ES256" else RSAKey).import_key(data)


class KeyEncryptor:
    def __init__(self, key_encryption_key: bytes) -> None:
        self._aead = AESGCM(key_encryption_key)

    def encrypt(self, plaintext: bytes, kid: str) -> str:
        nonce = os.urandom(12)
        return base64.b64encode(nonce + self._aead.encrypt(nonce, plaintext, kid.encode())).decode()

    def decrypt(self, token: str, kid: str) -> bytes:
        raw = base64.b64decode(token)
        return self._aead.decrypt(raw[:12], raw[12:], kid.encode())


class KeyRing:
    """Loads keys from the database and caches them briefly; every process sees a rotation within
    ``cache_seconds``."""

    def __init__(self, sessions: sessionmaker[Session], key_encryption_key: bytes, *,
                 retire_after: timedelta, cache_seconds: float = 30.0) -> None:
        self.sessions = sessions
        self.encryptor = KeyEncryptor(key_encryption_key)
        self.retire_after = retire_after
        self.cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._loaded_at = 0.0
        self._active: dict[str, LoadedKey] = {}
        self._jwks: dict = {"keys": []}
        self._public: dict[str, object] = {}
        self._imported_public: dict[str, object] = {}
        self._imported_private: dict[str, LoadedKey] = {}
        self.ready = False

    # -- lifecycle ---------------------------------------------------------------------------
    def ensure(self) -> None:
        """At first start: one active key per algorithm."""
        with self.sessions() as session, session.begin():
            if session.get_bind().dialect.name == "postgresql":  # several workers start at once
                session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ENSURE_LOCK})
            for alg in ALGORITHMS:
                exists = session.scalar(select(SigningKey.kid).where(SigningKey.alg == alg,
                                                                      SigningKey.state == "active"))
                if not exists:
                    session.add(self._new_row(alg, "active"))
                upcoming = session.scalar(select(SigningKey.kid).where(SigningKey.alg == alg,
                                                                        SigningKey.state == "next"))
                if not upcoming:  # published now, so it is cached by clients before it ever signs
                    session.add(self._new_row(alg, "next"))
        self.invalidate()
        self.ready = True

    def rotate(self, alg: str) -> dict:
        """Activate the published ``next`` key (making one first if there is none), retire the old
        active key, and publish a fresh ``next`` key so clients can cache it before it signs."""
        if alg not in ALGORITHMS:
            raise ValueError(f"unsupported algorithm {alg}")
        moment = now()
        with self.sessions() as session, session.begin():
            rows = session.scalars(select(SigningKey).where(SigningKey.alg == alg).with_for_update()).all()
            upcoming = next((r for r in rows if r.state == "next"), None)
            if upcoming is None:
                upcoming = self._new_row(alg, "next")
                session.add(upcoming)
            for row in rows:
                if row.state == "active":
                    row.state, row.retired_at = "retired", moment
                    row.publish_until = moment + self.retire_after
            upcoming.state, upcoming.activated_at = "active", moment
            fresh = self._new_row(alg, "next")
            session.add(fresh)
            result = {"alg": alg, "active": upcoming.kid, "next": fresh.kid}
        self.invalidate()
        return result

    def prune(self) -> int:
        """Drop retired keys whose tokens have all expired."""
        moment = now()
        with self.sessions() as session, session.begin():
            rows = session.scalars(select(SigningKey).where(SigningKey.state == "retired")).all()
            gone = [r for r in rows if r.publish_until and aware(r.publish_until) < moment]
            for row in gone:
                session.delete(row)
        self.invalidate()
        return len(gone)

    def describe(self) -> list[dict]:
        with self.sessions() as session:
            rows = session.scalars(select(SigningKey).order_by(SigningKey.created_at)).all()
            return [{"kid": r.kid, "alg": r.alg, "state": r.state, "created_at": aware(r.created_at).isoformat(),
                     "publish_until": aware(r.publish_until).isoformat() if r.publish_until else None}
                    for r in rows]

    def _new_row(self, alg: str, state: str) -> SigningKey:
        key = _generate(alg)
        kid = uuid.uuid4().hex[:16]
        public = {**key.as_dict(private=False), "kid": kid, "alg": alg, "use": "sig"}
        private = json.dumps(key.as_dict(private=True)).encode()
        moment = now()
        return SigningKey(kid=kid, alg=alg, public_jwk=public, state=state, created_at=moment,
                          activated_at=moment if state == "active" else None,
                          private_jwk_encrypted=self.encryptor.encrypt(private, kid))

    # -- use -----------------------------------------------------------------------------------
    def invalidate(self) -> None:
        with self._lock:
            self._loaded_at = 0.0

    def _load(self) -> None:
        with self._lock:
            if time.monotonic() - self._loaded_at < self.cache_seconds:
                return
            moment = now()
            with self.sessions() as session:
                rows = session.scalars(select(SigningKey)).all()
            active, public, published = {}, {}, []
            for row in rows:
                if row.state == "retired" and row.publish_until and aware(row.publish_until) < moment:
                    continue
                published.append(row.public_jwk)
                public[row.kid] = self._imported_public.get(row.kid) or _import(row.alg, row.public_jwk)
                if row.state == "active":
                    active[row.alg] = self._imported_private.get(row.kid) or LoadedKey(
                        row.kid, row.alg,
                        _import(row.alg, json.loads(self.encryptor.decrypt(row.private_jwk_encrypted, row.kid))))
            # a kid's key material never changes, only its state: what was imported (and, for the
            # private part, decrypted) once is kept while the kid is in use; importing an RSA key
            # checks it and costs tens of milliseconds, every reload, in every process
            self._imported_public = dict(public)
            self._imported_private = {key.kid: key for key in active.values()}
            self._active, self._public = active, public
            self._jwks = {"keys": sorted(published, key=lambda k: (k["alg"], k["kid"]))}
            self._loaded_at = time.monotonic()

    def signing_key(self, alg: str) -> LoadedKey:
        self._load()
        if alg not in self._active:
            self.invalidate()
            self._load()
        return self._active[alg]

    def public_key(self, kid: str):
        self._load()
        if kid not in self._public:
            self.invalidate()
            self._load()
        return self._public.get(kid)

    def jwks(self) -> dict:
        self._load()
        return self._jwks
