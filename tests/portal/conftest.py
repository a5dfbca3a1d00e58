"""Portal fixtures: the portal app on a SQLite session store, beside a small OpenID provider of the
test's own (metadata, keys, and logout tokens it signs), so each check of the relying party can be
made to fail on purpose. The real provider is exercised end to end in tests/browser."""
from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass

import pytest
from flask import Flask, jsonify
from joserfc import jwt
from joserfc.jwk import ECKey
from werkzeug.serving import make_server

from examples.portal.app import create_app
from examples.portal.settings import PortalSettings

CLIENT_ID = "portal-test"


@dataclass
class TestProvider:
    issuer: str
    key: ECKey
    other_key: ECKey

    def logout_token(self, *, key: ECKey | None = None, header: dict | None = None, **claims) -> str:
        now = int(time.time())
        body = {"iss": self.issuer, "aud": CLIENT_ID, "iat": now, "exp": now + 120, "jti": uuid.uuid4().hex,
                "sid": "sid-1", "sub": "sub-1", "events": {"http://schemas.openid.net/event/backchannel-logout": {}}}
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        signing = key or self.key
        return jwt.encode({"alg": "ES256", "typ": "logout+jwt", "kid": signing.kid, **(header or {})}, body, signing)


@pytest.fixture(scope="session")
def provider():
    key = ECKey.generate_key("P-256", parameters={"kid": "k1", "use": "sig", "alg": "ES256"})
    other = ECKey.generate_key("P-256", parameters={"kid": "k1", "use": "sig", "alg": "ES256"})
    app = Flask("test-provider")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    issuer = f"http://127.0.0.1:{server.server_port}"

    @app.get("/.well-known/openid-configuration")
    def metadata():
        return jsonify(issuer=issuer, authorization_endpoint=f"{issuer}/authorize", token_endpoint=f"{issuer}/token",
                       userinfo_endpoint=f"{issuer}/userinfo", jwks_uri=f"{issuer}/jwks",
                       end_session_endpoint=f"{issuer}/logout", id_token_signing_alg_values_supported=["ES256"],
                       authorization_response_iss_parameter_supported=True,
                       code_challenge_methods_supported=["S256"])

    @app.get("/jwks")
    def jwks():
        return jsonify(keys=[key.as_dict(private=False)])

    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield TestProvider(issuer, key, other)
    server.shutdown()


@pytest.fixture
def settings(provider, tmp_path) -> PortalSettings:
    return PortalSettings.from_env({
        "CAREKEY_ENV": "test", "PORTAL_PRACTICE_ID": "riverside", "PORTAL_NAME": "Riverside Family Practice",
        "PORTAL_CLIENT_ID": CLIENT_ID, "PORTAL_CLIENT_SECRET": "not-a-real-secret", "PORTAL_ISSUER": provider.issuer,
        "PORTAL_RECORDS_URL": "http://127.0.0.1:9", "PORTAL_REGISTRATION_URL": "http://127.0.0.1:8002",
        "PORT": "8101", "PORTAL_SECRET_KEY": "k" * 40, "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path / 'portal.sqlite'}"})


@pytest.fixture
def portal(settings):
    app = create_app(settings)
    app.testing = True
    return app
