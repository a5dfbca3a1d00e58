"""The HTTP ceiling: the least a gunicorn worker can do per request, under the same config as the
services. ``raw`` is a bare WSGI callable; ``flask`` a Flask app answering a constant."""
from __future__ import annotations

from flask import Flask

BODY = b'{"hello":"world"}'


def raw(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))])
    return [BODY]


flask = Flask(__name__)


@flask.get("/")
def hello():
    return flask.response_class(BODY, mimetype="application/json")


# -- the least a Flask + Authlib token endpoint can do ------------------------------------------
# client_credentials with client_secret_basic, one client held in memory (its secret compared in
# constant time), an ES256 JWT signed with joserfc: what the issue's "minimal Flask + Authlib ES256
# token endpoint" is, measured in the same run as identity's real one (bench/README.md).
MINIMAL_CLIENT_ID, MINIMAL_CLIENT_SECRET = "minimal", "minimal-secret"


def _minimal_token_app() -> Flask:
    import hmac
    import time
    import uuid

    from authlib.integrations.flask_oauth2 import AuthorizationServer
    from authlib.oauth2.rfc6749 import ClientMixin, grants
    from joserfc import jwt
    from joserfc.jwk import ECKey

    key = ECKey.generate_key("P-256", parameters={"kid": "minimal"})

    class Client(ClientMixin):
        def get_client_id(self):
            return MINIMAL_CLIENT_ID

        def get_default_redirect_uri(self):
            return None

        def get_allowed_scope(self, scope):
            return scope or "system/*.rs"

        def check_redirect_uri(self, redirect_uri):
            return False

        def check_client_secret(self, client_secret):
            return hmac.compare_digest(client_secret.encode(), MINIMAL_CLIENT_SECRET.encode())

        def check_endpoint_auth_method(self, method, endpoint):
            return method == "client_secret_basic"

        def check_grant_type(self, grant_type):
            return grant_type == "client_credentials"

    client = Client()

    def token(client, grant_type, user=None, scope=None, expires_in=None, include_refresh_token=True):
        moment = int(time.time())
        claims = {"iss": "http://127.0.0.1", "sub": MINIMAL_CLIENT_ID, "aud": "http://127.0.0.1", "iat": moment,
                  "exp": moment + 300, "jti": uuid.uuid4().hex, "client_id": MINIMAL_CLIENT_ID, "scope": scope}
        return {"access_token": jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": "minimal"}, claims, key,
                                           algorithms=["ES256"]),
                "token_type": "Bearer", "expires_in": 300, "scope": scope}

    app = Flask(__name__ + ".minimal")
    server = AuthorizationServer(app, query_client=lambda cid: client if cid == MINIMAL_CLIENT_ID else None,
                                 save_token=lambda token, request: None)
    server.register_grant(grants.ClientCredentialsGrant)
    server.register_token_generator("default", token)

    @app.post("/token")
    def issue():
        return server.create_token_response()

    @app.get("/")
    def ready():
        return app.response_class(BODY, mimetype="application/json")

    return app


minimal_token = _minimal_token_app()
