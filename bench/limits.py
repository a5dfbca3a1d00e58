"""Physical limits measured in the same run, one process per core, each as fast as it can:

- ES256 JWT signatures per second (joserfc, the call identity's TokenIssuer makes);
- argon2id hashes per second at identity's parameters (services.identity.domain.passwords.HASHER);
- bare access-token verifications per second (shared.tokens.AccessTokenVerifier: signature, iss,
  aud, exp), given the JWKS once.
"""
from __future__ import annotations

import multiprocessing
import os
import time


def _es256_signs(seconds: float, counter) -> None:
    from joserfc import jwt
    from joserfc.jwk import ECKey
    key = ECKey.generate_key("P-256", private=True)
    claims = {"iss": "http://127.0.0.1", "sub": "bench", "aud": "http://127.0.0.1", "iat": 1, "exp": 2,
              "jti": "0" * 32, "client_id": "0" * 32, "scope": "records:introspect"}
    header = {"alg": "ES256", "typ": "at+jwt", "kid": "bench"}
    _count_for(seconds, counter, lambda: jwt.encode(header, claims, key, algorithms=["ES256"]))


def _argon2_hashes(seconds: float, counter) -> None:
    from services.identity.domain.passwords import HASHER
    _count_for(seconds, counter, lambda: HASHER.hash("correct horse battery staple"))


def _jwt_verifications(seconds: float, counter, token: str, issuer: str, audience: str, jwks: dict) -> None:
    from shared.tokens import AccessTokenVerifier, JwksCache
    verifier = AccessTokenVerifier(issuer=issuer, audience=audience,
                                   keys=JwksCache("http://unused.invalid/jwks.json", http=_StaticJwks(jwks)))
    _count_for(seconds, counter, lambda: verifier.verify(token))


class _StaticJwks:
    """The JWKS handed over once, without HTTP: the limit is the verification, not the fetch."""

    def __init__(self, jwks: dict) -> None:
        self.jwks = jwks

    def get(self, *_args, **_kwargs):
        return self

    def raise_for_status(self) -> None:
        return None

    def json(self) -> dict:
        return self.jwks


def _count_for(seconds: float, counter, work) -> None:
    work()  # warm
    deadline, count = time.perf_counter() + seconds, 0
    while time.perf_counter() < deadline:
        work()
        count += 1
    with counter.get_lock():
        counter.value += count


def per_second(target, seconds: float, *args, processes: int | None = None) -> float:
    counter = multiprocessing.Value("l", 0)
    workers = [multiprocessing.Process(target=target, args=(seconds, counter, *args))
               for _ in range(processes or os.cpu_count() or 1)]
    for w in workers:
        w.start()
    try:
        for w in workers:
            w.join(seconds + 60)
    finally:
        for w in workers:
            if w.is_alive():
                w.kill()
    return counter.value / seconds


def es256_signs(seconds: float) -> float:
    return per_second(_es256_signs, seconds)


def argon2id_hashes(seconds: float) -> float:
    return per_second(_argon2_hashes, seconds)


def jwt_verifications(seconds: float, token: str, issuer: str, audience: str, jwks: dict) -> float:
    return per_second(_jwt_verifications, seconds, token, issuer, audience, jwks)
