"""What each flow needs, written with the services' own domain code (never raw SQL): clients
stored in PostgreSQL, accounts with argon2id passwords, refresh-token grants, records demo charts."""
from __future__ import annotations

import base64
import re
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import requests

from services import registry
from services.demo import records as records_demo
from shared.database import make_engine, make_session_factory, transaction

PASSWORD = "correct horse battery staple"
REDIRECT_URI = "https://bench.example/cb"
PORTAL_SCOPE = "openid launch/patient patient/*.rs"
READER = "bench-reader"
READER_PATIENT = ("riverside", "rv-1001", "Alex Rivera")


@dataclass
class Client:
    client_id: str
    client_secret: str

    @property
    def basic(self) -> str:
        return base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()


@dataclass
class IdentitySeed:
    service: Client          # client_credentials
    portal: Client           # authorization_code + refresh_token, first party, a practice
    signin_users: list[str]  # one per load-generating connection
    reader: str


def seed_identity(env: dict, *, signin_users: int) -> IdentitySeed:
    from services.identity.domain import accounts, clients
    settings = registry.settings("identity", env)
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    policy = settings.password_policy()
    with transaction(sessions) as session:
        service, service_secret = clients.create_client(session, clients.ClientSpec(
            name="Bench service", scope="records:introspect", grant_types=["client_credentials"]))
        portal, portal_secret = clients.create_client(session, clients.ClientSpec(
            name="Bench portal", redirect_uris=[REDIRECT_URI], first_party=True, practice_id=READER_PATIENT[0],
            scope=PORTAL_SCOPE))
        users = [f"bench-user-{n}" for n in range(signin_users)]
        for username in users + [READER]:
            accounts.create_account(session, username=username, password=PASSWORD, policy=policy)
        reader = accounts.find_by_username(session, READER)
        accounts.link_patient(session, reader, practice_id=READER_PATIENT[0], patient_id=READER_PATIENT[1],
                              relationship="self", display_name=READER_PATIENT[2])
        seed = IdentitySeed(Client(service.client_id, service_secret), Client(portal.client_id, portal_secret),
                            users, READER)
    engine.dispose()
    return seed


def seed_match_clients(env: dict, count: int) -> list[Client]:
    """``count`` operator clients (client_credentials, scope registration:match), as the systems of
    several practices calling registration's ``$match`` would be."""
    from services.identity.domain import clients
    settings = registry.settings("identity", env)
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    found = []
    with transaction(sessions) as session:
        for n in range(count):
            client, secret = clients.create_client(session, clients.ClientSpec(
                name=f"Bench match operator {n}", scope="registration:match", grant_types=["client_credentials"]))
            found.append(Client(client.client_id, secret))
    engine.dispose()
    return found


def client_token(base: str, client: Client, scope: str) -> str:
    """An access token for ``client`` by client_credentials (client_secret_basic)."""
    answer = requests.post(f"{base}/token", data={"grant_type": "client_credentials", "scope": scope},
                           auth=(client.client_id, client.client_secret), timeout=30)
    answer.raise_for_status()
    return answer.json()["access_token"]


def seed_refresh_grants(env: dict, portal: Client, username: str, count: int) -> list[str]:
    """``count`` grants for the reader at the portal, each with one live refresh token, as a
    sign-in with offline access would leave them (written with identity's own TokenIssuer)."""
    from services.identity.db.models import Client as ClientRow, Grant
    from services.identity.domain import accounts
    from services.identity.domain.time import now
    from services.identity.oauth.tokens import TokenIssuer
    settings = registry.settings("identity", env)
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    issuer = TokenIssuer(settings, keyring=None)
    tokens = []
    with transaction(sessions) as session:
        account = accounts.find_by_username(session, username)
        client = session.get(ClientRow, portal.client_id)
        moment = now()
        for _ in range(count):
            grant = Grant(id=str(uuid.uuid4()), client_id=client.client_id, account_id=account.id, session_id=None,
                          scope=PORTAL_SCOPE, auth_time=moment, amr=["pwd"], acr="urn:carekey:acr:password",
                          patient_id=READER_PATIENT[1], claims=None, created_at=moment)
            session.add(grant)
            session.flush()
            tokens.append(issuer.refresh_token(session, grant, client, PORTAL_SCOPE))
    engine.dispose()
    return tokens


def seed_records(env: dict) -> None:
    settings = registry.settings("records", env)
    app = registry.create_app("records", settings)
    with app.app_context():
        records_demo.seed(app)
    app.extensions["carekey.engine"].dispose()


def sign_in(base: str, client: Client, username: str, password: str = PASSWORD, scope: str = PORTAL_SCOPE) -> dict:
    """authorize → login form → code → token, as a browser and a portal would; the token response."""
    http = requests.Session()
    page = http.get(f"{base}/authorize", params={"response_type": "code", "client_id": client.client_id,
                                                  "redirect_uri": REDIRECT_URI, "scope": scope, "state": "s"},
                    timeout=30)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    if not csrf:
        raise RuntimeError(f"no sign-in form at {page.url} ({page.status_code})")
    done = http.post(page.url + "/login", data={"username": username, "password": password,
                                                "csrf_token": csrf.group(1)}, allow_redirects=False, timeout=30)
    back = http.get(base + done.headers["Location"], allow_redirects=False, timeout=30)
    code = parse_qs(urlsplit(back.headers["Location"]).query)["code"][0]
    token = http.post(f"{base}/token", data={"grant_type": "authorization_code", "code": code,
                                             "redirect_uri": REDIRECT_URI},
                      auth=(client.client_id, client.client_secret), timeout=30)
    token.raise_for_status()
    return token.json()
