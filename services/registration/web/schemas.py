"""The operator API's contracts: what it accepts and what it answers (also the OpenAPI document)."""
from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from services.registration.domain.office_codes import RELATIONSHIPS
from services.registration.domain.practices import MAX_MATCH_PER_MINUTE


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class ProxyRulesSchema(_Strict):
    full_access_under = fields.Integer(validate=validate.Range(min=0, max=21))
    teen_until = fields.Integer(validate=validate.Range(min=0, max=21))
    adult_proxy_days = fields.Integer(validate=validate.Range(min=1, max=3650))


class PracticeSettingsSchema(_Strict):
    portal_url = fields.String(validate=validate.Length(max=500))
    portal_client_ids = fields.List(fields.String(validate=validate.Length(max=64)))
    paths = fields.List(fields.String(validate=validate.OneOf(["invitation", "signup", "security_code"])))
    code_channels = fields.List(fields.String(validate=validate.OneOf(["email", "sms", "voice"])))
    office_pin = fields.Boolean()
    invitation_days = fields.Integer(validate=validate.Range(min=1, max=90))
    security_code_days = fields.Integer(validate=validate.Range(min=1, max=90))
    proxy_code_days = fields.Integer(validate=validate.Range(min=1, max=90))
    proxy = fields.Nested(ProxyRulesSchema)
    match_per_minute = fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_MATCH_PER_MINUTE), metadata={
        "description": "$match queries each operator client may send a minute (default 600); past it, 429"})
    certain_threshold = fields.Float(allow_none=True)
    probable_threshold = fields.Float(allow_none=True)
    possible_threshold = fields.Float(allow_none=True)


class PracticeInput(_Strict):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    settings = fields.Nested(PracticeSettingsSchema, load_default=dict)


class PracticeOutput(Schema):
    id = fields.String()
    name = fields.String()
    settings = fields.Nested(PracticeSettingsSchema)


class RosterRowInput(Schema):
    """One patient as the office has them (extra columns are ignored; see roster_formats.py)."""
    mrn = fields.String(required=True)
    given_name = fields.String(required=True)
    middle_name = fields.String()
    family_name = fields.String(required=True)
    birth_date = fields.String(required=True, metadata={"example": "1985-06-12"})
    sex = fields.String()
    address = fields.String()
    city = fields.String()
    state = fields.String()
    zip = fields.String()
    email = fields.String()
    phone = fields.String()
    pin = fields.String(metadata={"description": "the office PIN; stored only as a keyed digest"})


class RosterInput(_Strict):
    rows = fields.List(fields.Dict(), required=True, validate=validate.Length(min=1, max=50000))


class RowProblemOutput(Schema):
    row = fields.String(metadata={"description": "where: 'line 5' of a CSV file, 'entry 3' of a Bundle, 'row 3' "
                                                "of JSON rows"})
    mrn = fields.String(allow_none=True)
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()),
                         metadata={"description": "messages by the source's own column name, or a Bundle entry's "
                                                  "field path ('resource.name[0].given'); '_row': the row"})


class RowNoteOutput(Schema):
    kind = fields.String(metadata={"description": "zip_restored | birth_date_unknown"})
    row = fields.String()
    mrn = fields.String(allow_none=True)
    column = fields.String()
    note = fields.String()


class ImportOutput(Schema):
    created = fields.Integer()
    updated = fields.Integer()
    rejected = fields.List(fields.Nested(RowProblemOutput), metadata={
        "description": "with on_error=skip: the rows not imported, each with its problems"})
    notes = fields.List(fields.Nested(RowNoteOutput))


class RosterEntryOutput(Schema):
    mrn = fields.String()
    given_name = fields.String()
    middle_name = fields.String()
    family_name = fields.String()
    birth_date = fields.Date()
    sex = fields.String()
    zip = fields.String()
    has_email = fields.Boolean()
    has_phone = fields.Boolean()
    has_pin = fields.Boolean()
    linked_accounts = fields.Integer()


class MrnInput(_Strict):
    mrn = fields.String(required=True, validate=validate.Length(min=1, max=64))


class ProxyCodeInput(_Strict):
    mrn = fields.String(required=True, validate=validate.Length(min=1, max=64))
    relationship = fields.String(required=True, validate=validate.OneOf(RELATIONSHIPS))
    patient_agreed = fields.Boolean(load_default=False, metadata={
        "description": "the teen's or adult patient's agreement is on file (needed from the practice's teen age)"})


class OfficeCodeOutput(Schema):
    id = fields.String()
    code = fields.String(metadata={"description": "shown once: hand it to the patient"})
    expires_at = fields.DateTime()


class InvitationOutput(Schema):
    id = fields.String()
    practice_id = fields.String()
    entry_id = fields.Integer()
    status = fields.String()
    created_at = fields.DateTime()
    expires_at = fields.DateTime()


class DecisionInput(_Strict):
    patient_agreed = fields.Boolean(load_default=False)


class ProxyRequestOutput(Schema):
    id = fields.String()
    status = fields.String()
    requester_name = fields.String()
    relationship = fields.String()
    account_id = fields.String()
    patient = fields.Dict(allow_none=True)
    created_at = fields.DateTime()


class AuditEventOutput(Schema):
    id = fields.Integer()
    at = fields.DateTime()
    practice_id = fields.String()
    action = fields.String()
    outcome = fields.String()
    entry_id = fields.Integer(allow_none=True)
    account_id = fields.String(allow_none=True)
    actor = fields.String(allow_none=True)
    details = fields.Dict()
