"""Registration's ports: what it needs from identity, as a small Protocol (the HTTP implementation
lives in identity_client.py; tests use the real identity app over HTTP)."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Protocol


class IdentityError(Exception):
    """Identity refused or failed; ``status`` and ``errors`` say why (safe to show where noted)."""

    def __init__(self, message: str, *, status: int = 502, errors: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.errors = status, errors or {}


class IdentityAccounts(Protocol):
    def create_account(self, *, username: str, password: str, email: str | None, given_name: str,
                       family_name: str, birth_date: date | None, phone: str | None,
                       practice_id: str) -> dict[str, Any]: ...

    def account(self, account_id: str) -> dict[str, Any] | None: ...

    def link(self, account_id: str, *, practice_id: str, patient_id: str, relationship: str, display_name: str,
             valid_until: datetime | None = None) -> dict[str, Any]: ...

    def links(self, account_id: str) -> list[dict[str, Any]]: ...

    def handoff(self, account_id: str, *, client_id: str, return_to: str) -> str: ...

    def security_questions(self, account_id: str) -> list[str]: ...

    def verify_security_answers(self, account_id: str, answers: dict[str, str]) -> bool: ...
