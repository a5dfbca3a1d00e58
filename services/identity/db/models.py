"""Identity's tables. Secrets (client secrets, codes, refresh tokens, session cookies) are stored
only as SHA-256 digests; signing keys' private parts only encrypted."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (JSON, Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, event,
                        text)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.messaging.outbox import define_outbox

TS = DateTime(timezone=True)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON, datetime: TS}


outbox = define_outbox(Base.metadata)


class Account(Base):
    __tablename__ = "accounts"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    username: Mapped[str] = mapped_column(String(254))
    username_key: Mapped[str] = mapped_column(String(254), unique=True)  # case-folded, for lookups
    email: Mapped[str | None] = mapped_column(String(254))
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    phone: Mapped[str | None] = mapped_column(String(32))
    phone_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    sms_factor: Mapped[bool] = mapped_column(Boolean, default=False)  # codes by text/voice: a restricted fallback
    given_name: Mapped[str | None] = mapped_column(String(120))
    family_name: Mapped[str | None] = mapped_column(String(120))
    birth_date: Mapped[date | None] = mapped_column(Date)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None]


class SignInHandoff(Base):
    """A one-time sign-in that registration hands a patient who has just set their password."""
    __tablename__ = "sign_in_handoffs"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    client_id: Mapped[str] = mapped_column(String(64))
    return_to: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class PatientLink(Base):
    """An account may act for a patient at a practice: themselves, or as a proxy."""
    __tablename__ = "patient_links"
    __table_args__ = (UniqueConstraint("account_id", "practice_id", "patient_id"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    practice_id: Mapped[str] = mapped_column(String(64))
    patient_id: Mapped[str] = mapped_column(String(64))
    relationship: Mapped[str] = mapped_column(String(16))  # self | proxy
    display_name: Mapped[str] = mapped_column(String(200))
    valid_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class Client(Base):
    __tablename__ = "clients"
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_digest: Mapped[str | None] = mapped_column(String(64))
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    first_party: Mapped[bool] = mapped_column(Boolean, default=False)
    practice_id: Mapped[str | None] = mapped_column(String(64))
    redirect_uris: Mapped[list[str]] = mapped_column(default=list)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(default=list)
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(500))
    scope: Mapped[str] = mapped_column(Text, default="")
    grant_types: Mapped[list[str]] = mapped_column(default=list)
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(40))
    id_token_signed_response_alg: Mapped[str] = mapped_column(String(10), default="ES256")
    subject_type: Mapped[str] = mapped_column(String(10), default="pairwise")
    sector_identifier: Mapped[str | None] = mapped_column(String(255))
    jwks: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None]


CLIENT_CHANGES_CHANNEL = "carekey_clients"


def _announce_client_change(_mapper, connection, target: Client) -> None:
    """NOTIFY in the change's own transaction (delivered on commit only): processes that cache
    clients (oauth/client_cache.py) drop this one."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_notify(:channel, :client_id)"),
                           {"channel": CLIENT_CHANGES_CHANNEL, "client_id": target.client_id})


for _change in ("after_insert", "after_update", "after_delete"):
    event.listen(Client, _change, _announce_client_change)


class SigningKey(Base):
    __tablename__ = "signing_keys"
    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(10))
    public_jwk: Mapped[dict[str, Any]]
    private_jwk_encrypted: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(10))  # next | active | retired
    created_at: Mapped[datetime]
    activated_at: Mapped[datetime | None]
    retired_at: Mapped[datetime | None]
    publish_until: Mapped[datetime | None]  # retired keys stay in JWKS until their tokens expired


class SsoSession(Base):
    __tablename__ = "sso_sessions"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the public `sid`
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    auth_time: Mapped[datetime]
    amr: Mapped[list[str]] = mapped_column(default=list)
    acr: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))


class SessionClient(Base):
    """Which clients a session signed in to (for back-channel logout) and whom it acts for there."""
    __tablename__ = "session_clients"
    session_id: Mapped[str] = mapped_column(ForeignKey("sso_sessions.id"), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.client_id"), primary_key=True)
    patient_id: Mapped[str | None] = mapped_column(String(64))
    first_seen_at: Mapped[datetime]


class Interaction(Base):
    """One authorization request waiting for the user: login, patient selection, consent."""
    __tablename__ = "interactions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    session_id: Mapped[str | None] = mapped_column(String(36))
    login_done: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_done: Mapped[bool] = mapped_column(Boolean, default=False)
    patient_id: Mapped[str | None] = mapped_column(String(64))
    patient_done: Mapped[bool] = mapped_column(Boolean, default=False)
    pending_account_id: Mapped[str | None] = mapped_column(String(36))  # password right, second factor next
    completed_at: Mapped[datetime | None]


class Grant(Base):
    """What one authorization produced: its code, access and refresh tokens die together."""
    __tablename__ = "grants"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.client_id"), index=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    session_id: Mapped[str | None] = mapped_column(String(36), index=True)
    scope: Mapped[str] = mapped_column(Text)
    auth_time: Mapped[datetime]
    amr: Mapped[list[str]] = mapped_column(default=list)
    acr: Mapped[str] = mapped_column(String(64))
    patient_id: Mapped[str | None] = mapped_column(String(64))
    claims: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class AuthorizationCode(Base):
    __tablename__ = "authorization_codes"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    grant_id: Mapped[str] = mapped_column(ForeignKey("grants.id"))
    client_id: Mapped[str] = mapped_column(String(64))
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    nonce: Mapped[str | None] = mapped_column(String(255))
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    grant_id: Mapped[str] = mapped_column(ForeignKey("grants.id"), index=True)
    client_id: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    rotated_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class AccessToken(Base):
    """Issued user access tokens (JWTs) by `jti`, so they can be revoked and introspected."""
    __tablename__ = "access_tokens"
    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    grant_id: Mapped[str | None] = mapped_column(ForeignKey("grants.id"), index=True)
    client_id: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class Consent(Base):
    __tablename__ = "consents"
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.client_id"), primary_key=True)
    scope: Mapped[str] = mapped_column(String(200), primary_key=True)
    granted_at: Mapped[datetime]


class TotpFactor(Base):
    """An authenticator app (RFC 6238). The shared secret is encrypted at rest with the KEK."""
    __tablename__ = "totp_factors"
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    secret_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]
    last_used_step: Mapped[int] = mapped_column(Integer, default=0)  # a code works once


class Passkey(Base):
    """A WebAuthn credential (a passkey): enough on its own to sign in (it verifies the user)."""
    __tablename__ = "passkeys"
    id: Mapped[str] = mapped_column(String(255), primary_key=True)  # the credential id, base64url
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    public_key: Mapped[str] = mapped_column(Text)  # COSE key, base64url
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]


class WebAuthnChallenge(Base):
    """A challenge handed to a browser, usable once, for a few minutes."""
    __tablename__ = "webauthn_challenges"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(12))  # register | sign_in
    account_id: Mapped[str | None] = mapped_column(String(36))
    challenge: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class RecoveryCode(Base):
    """One-time recovery codes, shown once, kept as SHA-256 digests."""
    __tablename__ = "recovery_codes"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    created_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class RecoveryFlow(Base):
    """A forgotten password or user ID being recovered. Its id travels in the URL; the code sent to
    the account's address is kept as an HMAC. A flow for an unknown address exists too (with no
    account), so every step looks the same whether or not the address is known."""
    __tablename__ = "recovery_flows"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # password | user_id | email | phone
    target: Mapped[str | None] = mapped_column(String(254))  # new email/phone being confirmed; for recovery, the channel
    account_id: Mapped[str | None] = mapped_column(String(36))
    stage: Mapped[str] = mapped_column(String(20))  # identify | code | second_factor | new_password | done
    code_digest: Mapped[str | None] = mapped_column(String(64))
    code_expires_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sends: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class Device(Base):
    """A browser an account signed in from, known by a signed cookie. A remembered device skips the
    second factor until ``remembered_until``; the patient can forget it at any time."""
    __tablename__ = "devices"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # digest of the cookie's device id
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    user_agent: Mapped[str | None] = mapped_column(String(300))
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    remembered_until: Mapped[datetime | None]


class PhoneCode(Base):
    """A sign-in code sent by text or voice for one interaction (6 digits, 10 minutes, single use,
    5 attempts, at most 3 sends; a new send keeps the attempts)."""
    __tablename__ = "phone_codes"
    interaction_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(36))
    code_digest: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sends: Mapped[int] = mapped_column(Integer, default=0)


class SecurityAnswer(Base):
    """A legacy security question (seeds 000, 002, 003): the answer normalised and argon2-hashed,
    never shown, and only ever asked in addition to a code, never instead of one."""
    __tablename__ = "security_answers"
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    question: Mapped[str] = mapped_column(String(200), primary_key=True)
    answer_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]


class LoginThrottle(Base):
    """Failed sign-ins counted per (account, IP), per account and per IP. Keys are digests, and
    unknown usernames are counted like known ones, so locks reveal nothing."""
    __tablename__ = "login_throttles"
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_account_time", "account_id", "occurred_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime]
    event: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(32))
    account_id: Mapped[str | None] = mapped_column(String(36))
    client_id: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
