"""API input (*Args) and output (*Schema) for the children endpoints."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from index_service.children import criteria as parse
from index_service.children.criteria import SearchPurpose
from index_service.schema_base import StrippedSchema


class Parsed(fields.String):
    """A string field cleaned by one of the shared criteria parsers."""

    def __init__(self, parser: Callable[[str], Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.parser = parser

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return self.parser(text)
        except parse.CriterionError as error:
            raise ValidationError(str(error)) from error


class SearchArgs(StrippedSchema):
    purpose = fields.Enum(
        SearchPurpose, by_value=True, required=True, metadata={"description": "Why you are searching"}
    )
    purpose_note = fields.String(validate=validate.Length(max=500), load_default=None)
    family_name = Parsed(parse.parse_name)
    given_name = Parsed(parse.parse_name)
    date_of_birth = Parsed(parse.parse_date_of_birth, metadata={"description": "YYYY-MM-DD or DD/MM/YYYY"})
    postcode = Parsed(parse.parse_postcode)
    gender = fields.String(validate=validate.OneOf(parse.GENDERS))
    nhs_number = Parsed(parse.parse_nhs_number)
    upn = Parsed(parse.parse_upn)
    index_id = Parsed(parse.parse_index_id_criterion)

    @validates_schema
    def note_for_other(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data.get("purpose") == SearchPurpose.OTHER and not data.get("purpose_note"):
            raise ValidationError("Give details of why you are searching", field_name="purpose_note")


class SearchResultSchema(Schema):
    index_id = fields.String()
    given_name = fields.String()
    middle_names = fields.String(allow_none=True)
    family_name = fields.String()
    date_of_birth = fields.Date()
    gender = fields.String()
    status = fields.String()
    town = fields.String(allow_none=True)
    postcode = fields.String(allow_none=True)
    shielded = fields.Boolean()
    shielded_contact = fields.String(allow_none=True)
    score = fields.Float()
    matched = fields.List(fields.String())


class SearchResponseSchema(Schema):
    outcome = fields.String(metadata={"description": "results, none or too_many"})
    message = fields.String(allow_none=True)
    results = fields.List(fields.Nested(SearchResultSchema))


class SuppliedSchema(Schema):
    source = fields.String(allow_none=True)
    supplied_at = fields.DateTime()


class OtherNameSchema(SuppliedSchema):
    kind = fields.String()
    given_name = fields.String(allow_none=True)
    family_name = fields.String(allow_none=True)


class AddressSchema(SuppliedSchema):
    line1 = fields.String(allow_none=True)
    line2 = fields.String(allow_none=True)
    town = fields.String(allow_none=True)
    postcode = fields.String(allow_none=True)


class CarerSchema(SuppliedSchema):
    name = fields.String()
    relationship = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)


class IdentifierSchema(SuppliedSchema):
    kind = fields.String()
    value = fields.String()


class InvolvementSchema(SuppliedSchema):
    service = fields.String()
    service_label = fields.String()
    organisation = fields.String()
    organisation_phone = fields.String(allow_none=True)
    role = fields.String(allow_none=True)
    practitioner_name = fields.String(allow_none=True)
    practitioner_phone = fields.String(allow_none=True)
    practitioner_email = fields.String(allow_none=True)
    start_date = fields.Date(allow_none=True)
    end_date = fields.Date(allow_none=True)
    is_current = fields.Boolean()
    is_lead_professional = fields.Boolean()
    has_early_help_assessment = fields.Boolean()


class ProvenanceSchema(SuppliedSchema):
    field = fields.String()


class ChildSchema(Schema):
    """A child as the viewer may see it: a shielded record arrives already redacted."""

    index_id = fields.String()
    given_name = fields.String()
    middle_names = fields.String(allow_none=True)
    family_name = fields.String()
    other_names = fields.List(fields.Nested(OtherNameSchema))
    date_of_birth = fields.Date()
    gender = fields.String()
    status = fields.String()
    shielded = fields.Boolean()
    shielded_contact = fields.String(allow_none=True)
    address = fields.Nested(AddressSchema, allow_none=True)
    carers = fields.List(fields.Nested(CarerSchema))
    identifiers = fields.List(fields.Nested(IdentifierSchema))
    involvements = fields.List(fields.Nested(InvolvementSchema))
    provenance = fields.List(fields.Nested(ProvenanceSchema))
