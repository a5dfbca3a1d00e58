"""Only identity's live, unexpired access tokens for this API open records: expired, forged,
wrong-audience, wrong-issuer, unsigned, shared-secret, non-access and revoked tokens get 401."""
from __future__ import annotations

import base64
import dataclasses
import json
import time

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey

from services import registry
from shared.tokens import AccessTokenVerifier, JwksCache, TokenError, VerifierUnavailable
from tests.records.conftest import bearer


@pytest.fixture
def signed_in(records, practices, charts, people, tokens):
    practice = practices.new()
    chart = charts.new(practice)
    person = people.new((practice, chart.patient_id, "self"))
    token, client, response = tokens.issue_with_client(person, practice)
    return token, client, response, chart


def claims_of(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def resign(identity_app, token: str, *, header: dict | None = None, key=None, **changes) -> str:
    """The token's claims with *changes*, signed with identity's own active key (or *key*)."""
    signing = identity_app.extensions["carekey.identity"].keyring.signing_key("ES256")
    claims = {k: v for k, v in {**claims_of(token), **changes}.items() if v is not None}
    head = {"alg": "ES256", "typ": "at+jwt", "kid": signing.kid, **(header or {})}
    return jwt.encode(head, claims, key or signing.private, algorithms=[head["alg"]])


def read_patient(records, token: str, chart):
    return records.get(f"/Patient/{chart.patient_id}", headers=bearer(token))


def test_a_live_token_reads(records, signed_in, identity_app):
    token, _client, _response, chart = signed_in
    assert read_patient(records, token, chart).status_code == 200
    assert read_patient(records, resign(identity_app, token), chart).status_code == 200, "re-signing keeps it valid"


def test_no_token_is_a_bare_bearer_challenge(records, signed_in):
    response = records.get(f"/Patient/{signed_in[3].patient_id}")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="records"'
    assert response.json["resourceType"] == "OperationOutcome" and response.json["issue"][0]["code"] == "login"


def test_a_token_in_the_wrong_scheme_is_refused(records, signed_in):
    token, _c, _r, chart = signed_in
    response = records.get(f"/Patient/{chart.patient_id}", headers={"Authorization": f"Basic {token}"})
    assert response.status_code == 401 and 'error="invalid_request"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize("changes", [
    {"exp": int(time.time()) - 120},                       # expired beyond the leeway
    {"exp": None},                                         # no expiry at all
    {"aud": "https://another-api.example"},                # for another resource server
    {"aud": ["https://another-api.example", "https://third.example"]},
    {"iss": "https://evil.example"},                       # another issuer
    {"iat": int(time.time()) + 3600, "nbf": int(time.time()) + 3600},  # not yet valid
    {"client_id": None}, {"sub": None}, {"jti": None},
])
def test_bad_claims_are_refused(records, signed_in, identity_app, changes):
    token, _c, _r, chart = signed_in
    response = read_patient(records, resign(identity_app, token, **changes), chart)
    assert response.status_code == 401, changes
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert "entry" not in response.json and chart.given not in response.get_data(as_text=True)


def test_a_token_forged_with_another_key_is_refused(records, signed_in, identity_app):
    token, _c, _r, chart = signed_in
    forger = ECKey.generate_key("P-256", private=True)
    assert read_patient(records, resign(identity_app, token, key=forger), chart).status_code == 401
    unknown_kid = resign(identity_app, token, key=forger, header={"kid": "forged-kid"})
    assert read_patient(records, unknown_kid, chart).status_code == 401


def test_unsigned_and_shared_secret_tokens_are_refused(records, signed_in, identity_app):
    token, _c, _r, chart = signed_in
    claims = claims_of(token)
    kid = identity_app.extensions["carekey.identity"].keyring.signing_key("ES256").kid
    unsigned = f"{b64({'alg': 'none', 'typ': 'at+jwt', 'kid': kid})}.{b64(claims)}."
    assert read_patient(records, unsigned, chart).status_code == 401
    # HS256 with identity's *public* key as the shared secret: the classic algorithm confusion
    public = json.dumps(identity_app.extensions["carekey.identity"].keyring.jwks()["keys"][0]).encode()
    confused = jwt.encode({"alg": "HS256", "typ": "at+jwt", "kid": kid}, claims, OctKey.import_key(public),
                          algorithms=["HS256"])
    assert read_patient(records, confused, chart).status_code == 401


def test_id_tokens_and_other_token_types_are_not_access_tokens(records, signed_in, identity_app):
    token, _c, response, chart = signed_in
    assert read_patient(records, response["id_token"], chart).status_code == 401
    assert read_patient(records, resign(identity_app, token, header={"typ": "JWT"}), chart).status_code == 401
    assert read_patient(records, "not-a-jwt", chart).status_code == 401


def test_a_client_credentials_token_has_no_patient_to_read(records, signed_in, make_client, identity_app):
    service = make_client(redirect_uris=[], scope="records:introspect", grant_types=["client_credentials"])
    answer = identity_app.test_client().post("/token", data={"grant_type": "client_credentials",
                                                              "scope": "records:introspect"},
                                             auth=(service.client_id, service.secret))
    response = read_patient(records, answer.json["access_token"], signed_in[3])
    assert response.status_code == 403 and 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


@pytest.fixture
def introspecting_records(records_settings, make_client):
    service = make_client(redirect_uris=[], scope="records:introspect", grant_types=["client_credentials"])
    settings = dataclasses.replace(records_settings, introspect=True, introspect_client_id=service.client_id,
                                   introspect_client_secret=service.secret)
    return registry.create_app("records", settings).test_client()


def test_revoked_tokens_are_refused_in_introspection_mode(introspecting_records, records, signed_in, identity_app):
    token, client, _response, chart = signed_in
    assert read_patient(introspecting_records, token, chart).status_code == 200
    revoked = identity_app.test_client().post("/revoke", data={"token": token},
                                              auth=(client.client_id, client.secret))
    assert revoked.status_code == 200
    assert read_patient(introspecting_records, token, chart).status_code == 401
    assert read_patient(records, token, chart).status_code == 200, "offline checks alone cannot see a revocation"


def test_introspection_that_cannot_be_reached_is_a_503_not_a_pass(records_settings, signed_in):
    settings = dataclasses.replace(records_settings, introspect=True, introspect_client_id="nobody",
                                   introspect_client_secret="wrong-secret-wrong-secret-wrong-secret")
    response = read_patient(registry.create_app("records", settings).test_client(), signed_in[0], signed_in[3])
    assert response.status_code == 503 and response.json["issue"][0]["code"] == "transient"


class FakeJwksHttp:
    """Stands in for the HTTP session: serves a JWKS that the test can change, counts fetches."""

    def __init__(self, keys: list[dict]) -> None:
        self.keys, self.fetches, self.down = keys, 0, False

    def get(self, url, **_kwargs):
        self.fetches += 1
        if self.down:
            import requests
            raise requests.ConnectionError("down")
        return type("Response", (), {"raise_for_status": lambda self: None, "json": lambda _s, k=self.keys: {"keys": k}})()


def public_jwk(key: ECKey, kid: str) -> dict:
    return {**key.as_dict(private=False), "kid": kid, "alg": "ES256", "use": "sig"}


def sign(key: ECKey, kid: str, **claims) -> str:
    now = int(time.time())
    body = {"iss": "https://id.example", "aud": "https://api.example", "sub": "s", "client_id": "c", "jti": "j",
            "iat": now, "exp": now + 300, **claims}
    return jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": kid}, body, key, algorithms=["ES256"])


def test_unknown_kids_refetch_the_jwks_at_most_once_per_interval():
    old, new = ECKey.generate_key("P-256", private=True), ECKey.generate_key("P-256", private=True)
    http, clock = FakeJwksHttp([public_jwk(old, "old")]), [0.0]
    verifier = AccessTokenVerifier("https://id.example", "https://api.example",
                                   JwksCache("https://id.example/jwks", http=http, min_refresh=60,
                                             clock=lambda: clock[0]))
    assert verifier.verify(sign(old, "old"))["sub"] == "s" and http.fetches == 1
    for moment in (0, 61):  # forged kids cannot make us hammer the issuer
        clock[0] = moment
        for attempt in range(5):
            with pytest.raises(TokenError):
                verifier.verify(sign(new, f"random-{attempt}"))
    assert http.fetches == 2
    http.keys = [public_jwk(old, "old"), public_jwk(new, "new")]  # identity rotated its keys
    with pytest.raises(TokenError):
        verifier.verify(sign(new, "new"))
    clock[0] = 122
    assert verifier.verify(sign(new, "new"))["sub"] == "s" and http.fetches == 3
    assert verifier.verify(sign(old, "old"))["sub"] == "s" and http.fetches == 3


def test_keys_already_held_keep_working_while_the_jwks_is_unreachable():
    key = ECKey.generate_key("P-256", private=True)
    http, clock = FakeJwksHttp([public_jwk(key, "k")]), [0.0]
    cache = JwksCache("https://id.example/jwks", http=http, min_refresh=1, max_age=10, clock=lambda: clock[0])
    verifier = AccessTokenVerifier("https://id.example", "https://api.example", cache)
    verifier.verify(sign(key, "k"))
    http.down, clock[0] = True, 20
    assert verifier.verify(sign(key, "k"))["sub"] == "s"
    with pytest.raises(VerifierUnavailable):
        AccessTokenVerifier("https://id.example", "https://api.example",
                            JwksCache("https://id.example/jwks", http=http)).verify(sign(key, "k"))


def test_a_jwks_key_is_used_only_for_its_own_algorithm():
    key = ECKey.generate_key("P-256", private=True)
    http = FakeJwksHttp([{**public_jwk(key, "k"), "alg": "RS256"}])
    verifier = AccessTokenVerifier("https://id.example", "https://api.example", JwksCache("u", http=http))
    with pytest.raises(TokenError):
        verifier.verify(sign(key, "k"))


def test_the_leeway_forgives_a_little_clock_skew_only():
    key = ECKey.generate_key("P-256", private=True)
    verifier = AccessTokenVerifier("https://id.example", "https://api.example",
                                   JwksCache("u", http=FakeJwksHttp([public_jwk(key, "k")])), leeway=30)
    assert verifier.verify(sign(key, "k", exp=int(time.time()) - 10))
    with pytest.raises(TokenError):
        verifier.verify(sign(key, "k", exp=int(time.time()) - 31))


@pytest.mark.parametrize("payload", [b'["not", "claims"]', b"not json", b"\xff\xfe"])
def test_a_well_signed_payload_that_is_not_a_claims_object_is_refused(payload):
    from joserfc import jws
    key = ECKey.generate_key("P-256", private=True)
    verifier = AccessTokenVerifier("https://id.example", "https://api.example",
                                   JwksCache("u", http=FakeJwksHttp([public_jwk(key, "k")])))
    token = jws.serialize_compact({"alg": "ES256", "typ": "at+jwt", "kid": "k"}, payload, key, algorithms=["ES256"])
    with pytest.raises(TokenError):
        verifier.verify(token)


def test_a_signature_over_other_content_is_refused():
    key = ECKey.generate_key("P-256", private=True)
    verifier = AccessTokenVerifier("https://id.example", "https://api.example",
                                   JwksCache("u", http=FakeJwksHttp([public_jwk(key, "k")])))
    head, _body, signature = sign(key, "k").split(".")
    _head, other_body, _signature = sign(key, "k", sub="someone-else").split(".")
    assert verifier.verify(sign(key, "k"))["sub"] == "s"
    with pytest.raises(TokenError):
        verifier.verify(f"{head}.{other_body}.{signature}")
