"""What registration's pages accept, validated with marshmallow; messages are shown beside fields."""
from __future__ import annotations

from datetime import date

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from services.registration.domain import birth_dates
from services.registration.domain.office_codes import RELATIONSHIPS
from services.registration.domain.roster_formats import ZIP

_NAME = validate.Length(min=1, max=120, error="Enter up to 120 characters.")


class BirthDate(fields.Field):
    """A date of birth as people type it (see domain/birth_dates.py); one that can't be, asked again."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            found = birth_dates.read(value, date.today())
        except birth_dates.DateUnreadable as exc:
            raise ValidationError(str(exc)) from None
        except birth_dates.NoSuchDate:
            raise ValidationError(f"Enter a real date of birth, like {birth_dates.FORMS}.") from None
        if found is None:
            raise ValidationError(self.error_messages["required"])
        return found


class _Form(Schema):
    class Meta:
        unknown = EXCLUDE  # the CSRF token and buttons


class IdentifyForm(_Form):
    given_name = fields.String(required=True, validate=_NAME, error_messages={"required": "Enter your first name."})
    family_name = fields.String(required=True, validate=_NAME, error_messages={"required": "Enter your last name."})
    birth_date = BirthDate(required=True, error_messages={"required": "Enter your date of birth."})
    zip = fields.String(required=True, validate=validate.Regexp(ZIP, error="Enter a 5-digit zip code."),
                        error_messages={"required": "Enter your zip code."})


class SignupForm(IdentifyForm):
    email = fields.Email(required=True, error_messages={"required": "Enter your email address.",
                                                        "invalid": "Enter an email address like name@example.com."})


class SecurityCodeForm(_Form):
    given_name = fields.String(required=True, validate=_NAME, error_messages={"required": "Enter your first name."})
    family_name = fields.String(required=True, validate=_NAME, error_messages={"required": "Enter your last name."})
    birth_date = BirthDate(required=True, error_messages={"required": "Enter your date of birth."})
    zip = fields.String(load_default="", validate=validate.Regexp(r"^([0-9]{5}(-?[0-9]{4})?)?$",
                                                                  error="Enter a 5-digit zip code."))
    code = fields.String(required=True, validate=validate.Length(min=1, max=40),
                         error_messages={"required": "Enter the security code from the office."})


class AccountForm(_Form):
    username = fields.String(required=True, validate=[
        validate.Length(min=3, max=254, error="Use 3 to 254 characters."),
        validate.Regexp(r"^[A-Za-z0-9._@+-]+$", error="Use letters, numbers and . _ - @ + only.")],
        error_messages={"required": "Choose a user ID."})
    email = fields.Email(required=True, error_messages={"required": "Enter your email address.",
                                                        "invalid": "Enter an email address like name@example.com."})
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024),
                             error_messages={"required": "Choose a password."})
    confirm = fields.String(load_default="")
    accept = fields.String(load_default="")

    @validates_schema(skip_on_field_errors=False)
    def _check(self, data, **_):
        errors = {}
        if data.get("password") and data["password"] != data.get("confirm"):
            errors["confirm"] = ["The passwords don't match."]
        if data.get("accept") != "yes":
            errors["accept"] = ["Accept the Terms of Use and Privacy Notice to continue."]
        if errors:
            raise ValidationError(errors)


class ProxyCodeForm(_Form):
    code = fields.String(required=True, validate=validate.Length(min=1, max=40),
                         error_messages={"required": "Enter the proxy code."})
    birth_date = BirthDate(required=True, error_messages={"required": "Enter the patient's date of birth."})


class ProxyRequestForm(_Form):
    given_name = fields.String(required=True, validate=_NAME, error_messages={"required": "Enter the first name."})
    family_name = fields.String(required=True, validate=_NAME, error_messages={"required": "Enter the last name."})
    birth_date = BirthDate(required=True, error_messages={"required": "Enter the date of birth."})
    relationship = fields.String(required=True, validate=validate.OneOf(RELATIONSHIPS))


def parse(schema: Schema, form) -> tuple[dict, dict]:
    """(values, errors): values echo what was typed (never passwords), errors by field."""
    raw = {key: (form.get(key) or "").strip() if key not in ("password", "confirm") else form.get(key) or ""
           for key in form.keys()}
    try:
        return schema.load(raw), {}
    except ValidationError as exc:
        echoed = {k: v for k, v in raw.items() if k not in ("password", "confirm", "csrf_token", "pin", "code")}
        return echoed, exc.messages
