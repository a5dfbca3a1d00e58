"""Discovery and JWKS."""
from __future__ import annotations


def test_openid_configuration_describes_the_provider(api, suite):
    response = api.get("/.well-known/openid-configuration")
    assert response.status_code == 200 and "max-age" in response.headers["Cache-Control"]
    meta = response.json
    issuer = suite.settings["identity"].public_url
    assert meta["issuer"] == issuer
    for endpoint in ("authorization", "token", "userinfo", "revocation", "introspection", "end_session"):
        assert meta[f"{endpoint}_endpoint"].startswith(issuer)
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["response_types_supported"] == ["code"]
    assert set(meta["response_modes_supported"]) == {"query", "form_post"}
    assert set(meta["id_token_signing_alg_values_supported"]) == {"ES256", "RS256"}
    assert set(meta["token_endpoint_auth_methods_supported"]) >= {
        "client_secret_basic", "client_secret_post", "private_key_jwt", "none"}
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert meta["claims_parameter_supported"] is True and meta["backchannel_logout_supported"] is True
    assert set(meta["subject_types_supported"]) == {"public", "pairwise"}


def test_oauth_metadata_matches(api):
    assert api.get("/.well-known/oauth-authorization-server").json == \
        api.get("/.well-known/openid-configuration").json


def test_jwks_publishes_es256_and_rs256_public_keys_only(api):
    response = api.get("/.well-known/jwks.json")
    assert response.status_code == 200 and "max-age" in response.headers["Cache-Control"]
    keys = response.json["keys"]
    assert {k["alg"] for k in keys} >= {"ES256", "RS256"}
    for key in keys:
        assert key["kid"] and key["use"] == "sig"
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key), "no private parts"


def test_smart_configuration(api):
    smart = api.get("/.well-known/smart-configuration").json
    assert "launch-standalone" in smart["capabilities"] and smart["code_challenge_methods_supported"] == ["S256"]
