"""The data administrator's forms: registering a source, uploading an extract, merging two records."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import Field, HiddenField, RadioField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from index_service.children.models import Service
from index_service.index_ids import IndexIdError, parse_index_id
from index_service.load_models import LoadKind, RowOutcome
from index_service.sources.models import SourceKind

LOAD_KIND_LABELS = {
    LoadKind.DELTA: "Changes only (delta)",
    LoadKind.FULL: "The source's whole caseload (full)",
}
LOAD_KIND_HINTS = {
    LoadKind.DELTA: "Adds and updates the children in the file. Nothing else changes.",
    LoadKind.FULL: "Also ends this source's involvement with every child the file no longer lists.",
}


class RegisterSourceForm(FlaskForm):
    name = StringField(
        "Name of the data source",
        validators=[
            DataRequired("Enter a name for the data source"),
            Length(max=200, message="The name must be 200 characters or fewer"),
        ],
    )
    kind = SelectField(
        "Kind of system",
        choices=[SelectChoice(kind.value, kind.label) for kind in SourceKind],
        default=SourceKind.OTHER.value,
        validators=[DataRequired("Select the kind of system")],
    )
    service = SelectField(
        "Involvement each row implies",
        choices=[SelectChoice(service.value, service.label) for service in Service],
        validators=[DataRequired("Select the involvement each row implies")],
    )
    involvement_organisation = SelectField(
        "Organisation the involvement is with",
        coerce=int,
        validators=[DataRequired("Select the organisation the involvement is with")],
    )
    involvement_role = StringField(
        "Default practitioner role (optional)",
        validators=[Optional(), Length(max=100, message="The role must be 100 characters or fewer")],
    )


class UploadForm(FlaskForm):
    extract = FileField("Extract file", validators=[FileRequired("Choose a CSV or JSON lines file to upload")])
    kind = RadioField(
        "What does the file hold?",
        choices=[SelectChoice(kind.value, LOAD_KIND_LABELS[kind]) for kind in (LoadKind.DELTA, LoadKind.FULL)],
        default=LoadKind.DELTA.value,
        validators=[DataRequired("Select what the file holds")],
    )


class ReportFilterForm(FlaskForm):
    """The report's filter: a GET form, so no CSRF token."""

    class Meta:
        csrf = False

    outcome = SelectField(
        "Show rows",
        choices=[SelectChoice("", "All outcomes")] + [SelectChoice(o.value, o.value.capitalize()) for o in RowOutcome],
        validators=[Optional()],
    )


def _index_id(_form: FlaskForm, field: Field) -> None:
    if not (field.data or "").strip():
        raise ValidationError(f"Enter the index ID of the {field.label.text.lower()}")
    try:
        field.parsed = parse_index_id(field.data)
    except IndexIdError as error:
        raise ValidationError(str(error)) from error


class MergeForm(FlaskForm):
    kept = StringField("Record to keep", validators=[_index_id])
    retired = StringField("Record to retire", validators=[_index_id])

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        if valid and self.kept.parsed == self.retired.parsed:
            self.retired.errors = [*self.retired.errors, "Enter two different index IDs"]
            valid = False
        return valid


class ConfirmMergeForm(FlaskForm):
    kept = HiddenField(validators=[_index_id])
    retired = HiddenField(validators=[_index_id])


class LinkForm(FlaskForm):
    index_id = HiddenField(validators=[DataRequired("Choose one of the candidates shown")])
