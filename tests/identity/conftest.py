"""Identity fixtures: an app on the suite's database, and helpers that read as protocol steps."""
from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from services import registry
from services.identity.domain import accounts, clients
from shared.database import make_session_factory, transaction

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def identity_app(suite):
    app = registry.create_app("identity", suite.settings["identity"])
    app.testing = True
    return app


@pytest.fixture
def identity_db(suite):
    return make_session_factory(suite.engines["identity"])


@dataclass
class RegisteredClient:
    client_id: str
    secret: str | None
    redirect_uri: str
    row: object


@pytest.fixture
def make_client(identity_db):
    def make(**overrides) -> RegisteredClient:
        spec = dict(name="Test portal", redirect_uris=[f"https://portal-{uuid.uuid4().hex[:6]}.example/callback"],
                    first_party=True, scope="openid profile email offline_access")
        spec.update(overrides)
        with transaction(identity_db) as session:
            client, secret = clients.create_client(session, clients.ClientSpec(**spec))
        return RegisteredClient(client.client_id, secret, client.redirect_uris[0] if client.redirect_uris else "",
                                client)
    return make


@pytest.fixture
def make_account(identity_db):
    def make(**overrides):
        values = dict(username=f"user-{uuid.uuid4().hex[:8]}", password=PASSWORD, email="pat@example.org",
                      given_name="Pat", family_name="Lee")
        values.update(overrides)
        with transaction(identity_db) as session:
            return accounts.create_account(session, **values)
    return make


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


class Browser:
    """A user agent driving the authorization pages with a Flask test client."""

    def __init__(self, app) -> None:
        self.http = app.test_client()

    def csrf(self) -> str:
        with self.http.session_transaction() as session:
            return session.get("csrf_token", "")

    def authorize(self, client: RegisteredClient, **params):
        query = {"response_type": "code", "client_id": client.client_id, "redirect_uri": client.redirect_uri,
                 "scope": "openid profile email", "state": secrets.token_urlsafe(8),
                 "nonce": secrets.token_urlsafe(8)}
        query.update({k: v for k, v in params.items() if v is not None})
        for key in [k for k, v in params.items() if v is None]:
            query.pop(key, None)
        return self.http.get("/authorize?" + urlencode(query)), query

    def follow(self, response):
        """Follow redirects that stay at the identity provider."""
        while response.status_code in (302, 303) and response.headers["Location"].startswith(("/", "http://localhost/")):
            response = self.http.get(response.headers["Location"])
        return response

    def login(self, page_response, username: str, password: str = PASSWORD):
        uid = page_response.request.path.rsplit("/", 1)[-1]
        return self.http.post(f"/interaction/{uid}/login",
                              data={"username": username, "password": password, "csrf_token": self.csrf()})

    def sign_in(self, client: RegisteredClient, username: str, **params):
        """authorize → login page → credentials → back at the client with a code."""
        response, query = self.authorize(client, **params)
        page = self.follow(response)
        if page.status_code == 302:  # already signed in: single sign-on
            return page, query
        assert page.status_code == 200, page.get_data(as_text=True)
        response = self.follow(self.login(page, username))
        return response, query


def callback_params(response) -> dict[str, str]:
    assert response.status_code == 302, (response.status_code, response.get_data(as_text=True)[:500])
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


@pytest.fixture
def browser(identity_app):
    return Browser(identity_app)


@pytest.fixture
def api(identity_app):
    return identity_app.test_client()
