"""The index team's forms: an organisation, evidence for a criterion, accreditation, suspension, criteria."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, Regexp

from index_service.form_fields import day_field, optional_code_field
from index_service.organisation_models import OrganisationType

TYPE_LABELS = {
    OrganisationType.LOCAL_AUTHORITY: "Local authority",
    OrganisationType.NHS_TRUST: "NHS trust",
    OrganisationType.GP_PRACTICE: "GP practice",
    OrganisationType.SCHOOL: "School",
    OrganisationType.POLICE: "Police force",
    OrganisationType.YOUTH_OFFENDING_TEAM: "Youth offending team",
    OrganisationType.VOLUNTARY: "Voluntary body",
    OrganisationType.NATIONAL_INDEX: "The national index team",
}


class OrganisationForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired("Enter the organisation's name"), Length(max=200)])
    type = SelectField(
        "Type",
        choices=[SelectChoice(kind.value, label) for kind, label in TYPE_LABELS.items()],
        validators=[DataRequired("Select the type of organisation")],
    )
    phone = StringField("Switchboard phone number", validators=[Optional(), Length(max=40)])


class EvidenceForm(FlaskForm):
    criterion_id = IntegerField("Criterion", validators=[DataRequired("Choose a criterion")])
    evidence = TextAreaField(
        "Evidence", validators=[DataRequired("Describe the evidence that the criterion is met"), Length(max=2000)]
    )
    met_on = day_field("Date met", "14/01/2026", not_future=True, required="Enter the date the criterion was met")


class AccreditForm(FlaskForm):
    until = day_field("Accredited until", required="Enter the date the accreditation expires")
    code = optional_code_field()


class SuspendForm(FlaskForm):
    reason = TextAreaField(
        "Why is the accreditation suspended?",
        validators=[DataRequired("Write why the accreditation is suspended"), Length(max=500)],
    )
    code = optional_code_field()


class CriterionForm(FlaskForm):
    code = StringField(
        "Short code",
        validators=[
            DataRequired("Enter a short code"),
            Length(max=60),
            Regexp(r"^[a-z][a-z0-9_]*$", message="The code is lower-case letters, digits and underscores"),
        ],
    )
    title = StringField("What must be in place", validators=[DataRequired("Describe the criterion"), Length(max=300)])
    mandatory = BooleanField("Mandatory for accreditation", default=True)


class CriterionChangeForm(FlaskForm):
    mandatory = BooleanField("Mandatory")
    retired = BooleanField("Retired")


class UsageForm(FlaskForm):
    class Meta:
        csrf = False

    start = day_field("From")
    end = day_field("To")
