"""Accounts: creation and password sign-in without revealing whether a username exists."""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from services.identity.db.models import Account, PatientLink
from services.identity.domain import password_policy, passwords
from services.identity.domain.password_policy import Policy
from services.identity.domain.time import aware, now


class AccountError(ValueError):
    """A safe message about why an account could not be created."""


DEFAULT_POLICY = Policy("nist")


def username_key(username: str) -> str:
    return username.strip().casefold()


def find_by_username(session: Session, username: str) -> Account | None:
    return session.scalar(select(Account).where(Account.username_key == username_key(username)))


class PasswordRejected(AccountError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__(" ".join(problems))
        self.problems = problems


def check_password(password: str, policy: Policy, *, username: str | None, email: str | None,
                   names: tuple[str | None, ...], has_second_factor: bool = False) -> None:
    found = password_policy.problems(password, policy, has_second_factor=has_second_factor, username=username,
                                     email=email, names=names)
    if found:
        raise PasswordRejected(found)


def create_account(session: Session, *, username: str, password: str | None, email: str | None = None,
                   given_name: str | None = None, family_name: str | None = None,
                   phone: str | None = None, birth_date=None, policy: Policy = DEFAULT_POLICY) -> Account:
    username = username.strip()
    email = email.strip().lower() if email else None
    if not username or len(username) > 254:
        raise AccountError("Choose a username of 1 to 254 characters.")
    if find_by_username(session, username) is not None:
        raise AccountError("That username is taken. Choose another.")
    if password is not None:
        check_password(password, policy, username=username, email=email, names=(given_name, family_name))
    account = Account(id=str(uuid.uuid4()), username=username, username_key=username_key(username),
                      email=email, email_verified=False, given_name=given_name, family_name=family_name,
                      phone=phone, birth_date=birth_date,
                      password_hash=passwords.hash_password(password) if password else None,
                      created_at=now())
    session.add(account)
    session.flush()
    return account


@dataclass(frozen=True)
class SignIn:
    account: Account | None

    @property
    def ok(self) -> bool:
        return self.account is not None


def authenticate_password(session: Session, username: str, password: str) -> SignIn:
    """One argon2id verification whatever happens; a disabled account fails like a wrong password."""
    account = find_by_username(session, username) if username else None
    stored = account.password_hash if account and account.disabled_at is None else None
    if not passwords.verify_or_dummy(stored, password):
        return SignIn(None)
    if passwords.needs_rehash(stored):
        account.password_hash = passwords.hash_password(password)
    return SignIn(account)


def links_at_practice(session: Session, account_id: str, practice_id: str | None) -> list[PatientLink]:
    """The patients this account may act for at a practice right now (itself and valid proxies)."""
    if not practice_id:
        return []
    moment = now()
    links = session.scalars(select(PatientLink).where(
        PatientLink.account_id == account_id, PatientLink.practice_id == practice_id,
        PatientLink.revoked_at.is_(None)).order_by(PatientLink.relationship.desc(), PatientLink.display_name)).all()
    return [link for link in links if link.valid_until is None or aware(link.valid_until) > moment]


_LINK_CLAIMS = (select(PatientLink.practice_id, PatientLink.patient_id, PatientLink.relationship,
                       PatientLink.valid_until)
                .where(PatientLink.account_id == bindparam("account_id"), PatientLink.revoked_at.is_(None))
                .order_by(PatientLink.practice_id, PatientLink.patient_id))  # built once: it runs per token


def valid_links(session: Session, account_id: str) -> list:
    """Every patient this account may act for right now, at every practice: read-only rows of
    practice_id, patient_id, relationship and valid_until (what access tokens carry)."""
    moment = now()
    links = session.execute(_LINK_CLAIMS, {"account_id": account_id}).all()
    return [link for link in links if link.valid_until is None or aware(link.valid_until) > moment]


def link_patient(session: Session, account: Account, *, practice_id: str, patient_id: str, relationship: str,
                 display_name: str, valid_until=None) -> PatientLink:
    """Let *account* act for a practice's patient (idempotent: an existing link is refreshed)."""
    link = session.scalar(select(PatientLink).where(PatientLink.account_id == account.id,
                                                    PatientLink.practice_id == practice_id,
                                                    PatientLink.patient_id == patient_id))
    if link is None:
        link = PatientLink(id=str(uuid.uuid4()), account_id=account.id, practice_id=practice_id,
                           patient_id=patient_id, created_at=now())
        session.add(link)
    link.relationship, link.display_name, link.valid_until, link.revoked_at = (
        relationship, display_name, valid_until, None)
    session.flush()
    return link


def describe_account(account: Account) -> dict:
    return {"id": account.id, "username": account.username, "email": account.email,
            "given_name": account.given_name, "family_name": account.family_name,
            "created_at": aware(account.created_at).isoformat()}


def describe_link(link: PatientLink) -> dict:
    return {"id": link.id, "practice_id": link.practice_id, "patient_id": link.patient_id,
            "relationship": link.relationship, "display_name": link.display_name,
            "valid_until": aware(link.valid_until).isoformat() if link.valid_until else None}


def change_password(session: Session, account: Account, password: str, policy: Policy, *,
                    has_second_factor: bool) -> None:
    check_password(password, policy, username=account.username, email=account.email,
                   names=(account.given_name, account.family_name), has_second_factor=has_second_factor)
    account.password_hash = passwords.hash_password(password)
