"""marshmallow schemas for identity's JSON APIs (input and output apart)."""
from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate


class ClientInput(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    redirect_uris = fields.List(fields.String(validate=validate.Length(max=500)), load_default=list)
    post_logout_redirect_uris = fields.List(fields.String(validate=validate.Length(max=500)), load_default=list)
    backchannel_logout_uri = fields.String(load_default=None, allow_none=True)
    public = fields.Boolean(load_default=False)
    first_party = fields.Boolean(load_default=False)
    practice_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))
    scope = fields.String(load_default="openid profile email")
    grant_types = fields.List(fields.String(validate=validate.OneOf(
        ["authorization_code", "refresh_token", "client_credentials"])), load_default=None)
    token_endpoint_auth_method = fields.String(load_default=None, allow_none=True)
    id_token_signed_response_alg = fields.String(load_default="ES256")
    subject_type = fields.String(load_default="pairwise")
    sector_identifier = fields.String(load_default=None, allow_none=True)
    jwks = fields.Dict(load_default=None, allow_none=True)


class ClientUpdate(ClientInput):
    name = fields.String(validate=validate.Length(min=1, max=200))

    class Meta:
        unknown = RAISE


class AccountInput(Schema):
    class Meta:
        unknown = RAISE

    username = fields.String(required=True, validate=validate.Length(min=1, max=254))
    password = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1024))
    email = fields.Email(load_default=None, allow_none=True)
    given_name = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=120))
    family_name = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=120))
    phone = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=32))
    practice_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))
    birth_date = fields.Date(load_default=None, allow_none=True)


class HandoffInput(Schema):
    class Meta:
        unknown = RAISE

    account_id = fields.String(required=True, validate=validate.Length(min=1, max=36))
    client_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    return_to = fields.Url(required=True, require_tld=False, schemes={"http", "https"},
                           validate=validate.Length(max=1000))


class LinkInput(Schema):
    class Meta:
        unknown = RAISE

    practice_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    patient_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    relationship = fields.String(load_default="self", validate=validate.OneOf(["self", "proxy"]))
    display_name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    valid_until = fields.AwareDateTime(load_default=None, allow_none=True)


class PasskeyInput(Schema):
    """A WebAuthn answer from passkeys.js: the challenge it answers and the credential as JSON."""

    class Meta:
        unknown = RAISE

    challenge_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    credential = fields.Dict(keys=fields.String(), required=True)
    name = fields.String(load_default="Passkey", validate=validate.Length(max=80))
