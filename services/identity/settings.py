"""Identity's settings, from ``IDENTITY_*`` and the common variables."""
from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from typing import Mapping

from marshmallow import fields, validate

from shared.settings import (DEFAULT_PORTS, EnvSchema, JsonObject, ServiceSettings, SettingsError, agreed, check_secret,
                             env_field, load_service_settings, load_settings, local_url, stated_url)

NAME = "identity"
DEFAULT_PORT = DEFAULT_PORTS[NAME]
DEV_KEY_ENCRYPTION_KEY = "ZGV2LWNoYW5nZS1tZS1rZXktZW5jcnlwdGlvbi1rZXk="  # "dev-change-me-key-encryption-key"


class IdentitySchema(EnvSchema):
    key_encryption_key = env_field(fields.String, "IDENTITY_KEY_ENCRYPTION_KEY", dev_default=DEV_KEY_ENCRYPTION_KEY)
    pairwise_salt = env_field(fields.String, "IDENTITY_PAIRWISE_SALT",
                              dev_default="dev-pairwise-salt-change-me-not-for-production")
    records_audience = env_field(fields.String, "IDENTITY_RECORDS_AUDIENCE", load_default=None)
    registration_audience = env_field(fields.String, "IDENTITY_REGISTRATION_AUDIENCE", load_default=None)
    default_signing_alg = env_field(fields.String, "IDENTITY_SIGNING_ALG", load_default="ES256",
                                    validate=validate.OneOf(["ES256", "RS256"]))
    access_token_ttl = env_field(fields.Integer, "IDENTITY_ACCESS_TOKEN_TTL", load_default=600,
                                 validate=validate.Range(min=60, max=3600))
    id_token_ttl = env_field(fields.Integer, "IDENTITY_ID_TOKEN_TTL", load_default=600,
                             validate=validate.Range(min=60, max=3600))
    refresh_token_ttl = env_field(fields.Integer, "IDENTITY_REFRESH_TOKEN_TTL", load_default=30 * 86400,
                                  validate=validate.Range(min=3600, max=365 * 86400))
    refresh_grace_seconds = env_field(fields.Integer, "IDENTITY_REFRESH_GRACE_SECONDS", load_default=0,
                                      validate=validate.Range(min=0, max=60))
    code_ttl = env_field(fields.Integer, "IDENTITY_CODE_TTL", load_default=60,
                         validate=validate.Range(min=10, max=600))
    session_idle = env_field(fields.Integer, "IDENTITY_SESSION_IDLE_SECONDS", load_default=30 * 60,
                             validate=validate.Range(min=60))
    session_absolute = env_field(fields.Integer, "IDENTITY_SESSION_ABSOLUTE_SECONDS", load_default=12 * 3600,
                                 validate=validate.Range(min=300))
    interaction_ttl = env_field(fields.Integer, "IDENTITY_INTERACTION_TTL", load_default=15 * 60,
                                validate=validate.Range(min=60, max=3600))
    lockout_threshold = env_field(fields.Integer, "IDENTITY_LOCKOUT_THRESHOLD", load_default=5,
                                  validate=validate.Range(min=3, max=20))
    lockout_minutes = env_field(fields.Integer, "IDENTITY_LOCKOUT_MINUTES", load_default=15,
                                validate=validate.Range(min=1, max=1440))
    account_failure_ceiling = env_field(fields.Integer, "IDENTITY_ACCOUNT_FAILURE_CEILING", load_default=100,
                                        validate=validate.Range(min=10, max=100))
    ip_failures_per_window = env_field(fields.Integer, "IDENTITY_IP_FAILURES_PER_WINDOW", load_default=50,
                                       validate=validate.Range(min=5))
    password_min_length = env_field(fields.Integer, "IDENTITY_PASSWORD_MIN_LENGTH", load_default=15,
                                    validate=validate.Range(min=8, max=64))
    password_min_length_mfa = env_field(fields.Integer, "IDENTITY_PASSWORD_MIN_LENGTH_MFA", load_default=8,
                                        validate=validate.Range(min=8, max=64))
    password_policy_overrides = env_field(JsonObject, "IDENTITY_PASSWORD_POLICY_OVERRIDES", load_default=dict,
                                          keys=fields.String(), values=fields.String())


@dataclass(frozen=True)
class IdentitySettings:
    base: ServiceSettings
    key_encryption_key: bytes
    pairwise_salt: str
    records_audience: str
    registration_audience: str
    default_signing_alg: str
    access_token_ttl: int
    id_token_ttl: int
    refresh_token_ttl: int
    refresh_grace_seconds: int
    code_ttl: int
    session_idle: int
    session_absolute: int
    interaction_ttl: int
    lockout_threshold: int
    lockout_minutes: int
    account_failure_ceiling: int
    ip_failures_per_window: int
    password_min_length: int
    password_min_length_mfa: int
    password_policy_overrides: dict

    def password_policy(self, practice_id: str | None = None):
        """The policy for accounts registered at *practice_id* (a practice may keep a seed's rules)."""
        from services.identity.domain.password_policy import Policy, legacy_policy
        override = self.password_policy_overrides.get(practice_id or "")
        if override:
            return legacy_policy(override)
        return Policy("nist", min_length=self.password_min_length,
                      min_length_with_second_factor=self.password_min_length_mfa)

    # what the shared plumbing reads
    def __getattr__(self, name):
        return getattr(self.base, name)

    @property
    def issuer(self) -> str:
        return self.base.public_url


def load(environ: Mapping[str, str] | None = None) -> IdentitySettings:
    base = load_service_settings(NAME, DEFAULT_PORT, environ)
    values = load_settings(IdentitySchema(), environ)
    try:
        kek = base64.b64decode(values["key_encryption_key"], validate=True)
    except (binascii.Error, ValueError):
        raise SettingsError("IDENTITY_KEY_ENCRYPTION_KEY: must be base64 of 32 random bytes") from None
    if len(kek) != 32:
        raise SettingsError("IDENTITY_KEY_ENCRYPTION_KEY: must be base64 of exactly 32 bytes")
    if values["key_encryption_key"] == DEV_KEY_ENCRYPTION_KEY:
        check_secret("IDENTITY_KEY_ENCRYPTION_KEY", "change-me", env=base.common.env)
    check_secret("IDENTITY_PAIRWISE_SALT", values["pairwise_salt"], env=base.common.env)
    values["key_encryption_key"] = kek
    from services.identity.domain.password_policy import legacy_policy
    for practice, name in values["password_policy_overrides"].items():
        try:
            legacy_policy(name)
        except ValueError as exc:
            raise SettingsError(f"IDENTITY_PASSWORD_POLICY_OVERRIDES: {practice}: {exc}") from None
    env = os.environ if environ is None else environ
    # the audiences of the tokens identity mints: what records and registration expect, wherever they listen
    for peer in ("records", "registration"):
        name, theirs = f"IDENTITY_{peer.upper()}_AUDIENCE", f"{peer.upper()}_AUDIENCE"
        counterpart = (theirs, env.get(theirs)) if env.get(theirs) else (f"{peer}'s URL", stated_url(peer, env))
        values[f"{peer}_audience"] = agreed(name, values[f"{peer}_audience"], counterpart,
                                            default=local_url(peer) if base.common.is_dev else None)
        if values[f"{peer}_audience"] is None:
            raise SettingsError(f"{name}: required outside dev (or {peer.upper()}_PUBLIC_URL)")
    return IdentitySettings(base=base, **values)
