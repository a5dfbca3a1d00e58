"""Identity's internal API over HTTP, with a client-credentials token (scope ``identity:accounts``)
fetched by Authlib and reused until it is about to expire."""
from __future__ import annotations

import threading
import time
from datetime import date, datetime
from typing import Any

import requests
from authlib.integrations.requests_client import OAuth2Session

from services.registration.interfaces import IdentityError
from shared.http_client import PropagatingSession

SCOPE = "identity:accounts"


class HttpIdentityAccounts:
    def __init__(self, issuer: str, client_id: str, client_secret: str, *, timeout: float = 5.0) -> None:
        self.issuer = issuer.rstrip("/")
        self.timeout = timeout
        self._oauth = OAuth2Session(client_id, client_secret, scope=SCOPE,
                                    token_endpoint_auth_method="client_secret_basic")
        self._http = PropagatingSession(timeout=timeout)
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires = 0.0

    def _bearer(self) -> str:
        with self._lock:
            if self._token is None or time.monotonic() > self._expires - 30:
                try:
                    token = self._oauth.fetch_token(f"{self.issuer}/token", grant_type="client_credentials",
                                                    timeout=self.timeout)
                except Exception as exc:  # network failure or an OAuth error from identity
                    raise IdentityError(f"cannot get a token from identity: {type(exc).__name__}") from None
                self._token = token["access_token"]
                self._expires = time.monotonic() + float(token.get("expires_in", 300))
            return self._token

    def _call(self, method: str, path: str, body: dict | None = None) -> Any:
        try:
            response = self._http.request(method, f"{self.issuer}/internal{path}", json=body,
                                          headers={"Authorization": f"Bearer {self._bearer()}"})
        except requests.RequestException as exc:
            raise IdentityError(f"identity unreachable: {type(exc).__name__}") from None
        if response.status_code == 401:
            self._token = None
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {}
            raise IdentityError(problem.get("detail") or problem.get("title") or f"identity said {response.status_code}",
                                status=response.status_code, errors=problem.get("errors") or {})
        return response.json()

    def create_account(self, *, username: str, password: str, email: str | None, given_name: str,
                       family_name: str, birth_date: date | None, phone: str | None, practice_id: str) -> dict:
        return self._call("POST", "/accounts", {
            "username": username, "password": password, "email": email or None, "given_name": given_name,
            "family_name": family_name, "birth_date": birth_date.isoformat() if birth_date else None,
            "phone": phone or None, "practice_id": practice_id})

    def account(self, account_id: str) -> dict | None:
        try:
            return self._call("GET", f"/accounts/{account_id}")
        except IdentityError as exc:
            if exc.status == 404:
                return None
            raise

    def link(self, account_id: str, *, practice_id: str, patient_id: str, relationship: str, display_name: str,
             valid_until: datetime | None = None) -> dict:
        return self._call("POST", f"/accounts/{account_id}/links", {
            "practice_id": practice_id, "patient_id": patient_id, "relationship": relationship,
            "display_name": display_name, "valid_until": valid_until.isoformat() if valid_until else None})

    def links(self, account_id: str) -> list[dict]:
        return self._call("GET", f"/accounts/{account_id}/links")

    def security_questions(self, account_id: str) -> list[str]:
        return self._call("GET", f"/accounts/{account_id}/security-questions")["questions"]

    def verify_security_answers(self, account_id: str, answers: dict[str, str]) -> bool:
        return bool(self._call("POST", f"/accounts/{account_id}/security-questions/verify",
                               {"answers": answers}).get("verified"))

    def handoff(self, account_id: str, *, client_id: str, return_to: str) -> str:
        return self._call("POST", "/handoffs", {"account_id": account_id, "client_id": client_id,
                                                "return_to": return_to})["url"]
