"""The practitioner's search form."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_wtf import FlaskForm
from wtforms import Field, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from index_service.children import criteria as parse
from index_service.children.criteria import Criteria, SearchPurpose, query_from
from matching.search import missing_detail


def _parsed(parser: Callable[[str], Any]) -> Callable[[FlaskForm, Field], None]:
    def validate(_form: FlaskForm, field: Field) -> None:
        if field.data and field.data.strip():
            try:
                field.parsed = parser(field.data)
            except parse.CriterionError as error:
                raise ValidationError(str(error)) from error

    return validate


class SearchForm(FlaskForm):
    purpose = RadioField(
        "Why are you searching?",
        choices=[SelectChoice(purpose.value, purpose.label) for purpose in SearchPurpose],
        validators=[DataRequired("Select why you are searching")],
    )
    purpose_note = TextAreaField("Details of the reason", validators=[Optional(), Length(max=500)])
    family_name = StringField("Family name", validators=[_parsed(parse.parse_name)])
    given_name = StringField("Given name", validators=[_parsed(parse.parse_name)])
    date_of_birth = StringField("Date of birth", validators=[_parsed(parse.parse_date_of_birth)])
    postcode = StringField("Postcode", validators=[_parsed(parse.parse_postcode)])
    gender = SelectField(
        "Gender",
        choices=[SelectChoice("", "Not known")]
        + [SelectChoice(g, g.capitalize()) for g in parse.GENDERS if g != "unknown"],
        validators=[Optional()],
    )
    nhs_number = StringField("NHS number", validators=[_parsed(parse.parse_nhs_number)])
    upn = StringField("Unique Pupil Number (UPN)", validators=[_parsed(parse.parse_upn)])
    index_id = StringField("Index ID", validators=[_parsed(parse.parse_index_id_criterion)])

    def criteria(self) -> Criteria:
        cleaned: dict[str, Any] = {}
        for name in ("family_name", "given_name", "date_of_birth", "postcode", "nhs_number", "upn", "index_id"):
            parsed = getattr(getattr(self, name), "parsed", None)
            if parsed is not None:
                cleaned[name] = parsed
        if self.gender.data:
            cleaned["gender"] = self.gender.data
        return Criteria(**cleaned)  # type: ignore[typeddict-item]

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        if self.purpose.data == SearchPurpose.OTHER.value and not (self.purpose_note.data or "").strip():
            self.purpose_note.errors = [*self.purpose_note.errors, "Give details of why you are searching"]
            valid = False
        if valid:
            missing = missing_detail(query_from(self.criteria()))
            if missing:
                self.form_errors.append(missing)
                valid = False
        return valid
