"""User administration's forms: an account (create and edit), an action needing a fresh code, an import."""

from __future__ import annotations

from datetime import date, datetime

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import EmailField, Field, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError

from matching.normalise import postcode_district

DATE_FORMATS = ("%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y")


def day_field(label: str, example: str = "31/03/2027", not_future: bool = False,
              required: str | None = None) -> StringField:
    """A date typed as day/month/year (optional unless `required` gives the message for a missing one);
    the parsed value is left on the field as `.parsed`."""

    def parse(_form: FlaskForm, field: Field) -> None:
        field.parsed = None
        text = (field.data or "").strip()
        if not text:
            return
        for pattern in DATE_FORMATS:
            try:
                field.parsed = datetime.strptime(text, pattern).date()
                break
            except ValueError:
                continue
        else:
            raise ValidationError(f"Enter the {label.lower()} as day/month/year, like {example}")
        if not_future and field.parsed > date.today():
            raise ValidationError(f"The {label.lower()} cannot be in the future")

    return StringField(label, validators=[DataRequired(required) if required else Optional(), parse])


def optional_code_field() -> StringField:
    """A security code, asked for only when the last one was accepted more than five minutes ago."""
    return StringField("Security code", validators=[
        Optional(), Regexp(r"^\s*\d{3}\s?\d{3}\s*$", message="The security code must be 6 digits, like 123456"),
    ])


def parsed(field: Field) -> date | None:
    return getattr(field, "parsed", None)


class AccountForm(FlaskForm):
    display_name = StringField("Full name", validators=[DataRequired("Enter the person's full name"),
                                                        Length(max=200)])
    email = EmailField("Work email address", validators=[
        DataRequired("Enter the person's work email address"),
        Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message="Enter an email address like name@example.org"),
        Length(max=254)])
    roles = SelectMultipleField("Roles", choices=[], validators=[DataRequired("Select at least one role")])
    vetting_reference = StringField("Vetting check reference", validators=[Optional(), Length(max=60)])
    vetting_expires_on = day_field("Vetting check expiry date")
    training_completed_on = day_field("Training completed on", "14/01/2026", not_future=True)
    approved_on = day_field("Manager approved on", "14/01/2026", not_future=True)
    line_manager = SelectField("Line manager", choices=[])
    home_postcode_district = StringField("Home postcode district (optional)", filters=[
        lambda text: postcode_district(text) or text], validators=[Optional(), Regexp(
            r"^[A-Z]{1,2}[0-9][A-Z0-9]?$", message="Enter the first part of a postcode, like LS6, or a whole "
                                                   "postcode, like LS6 2AB")])
    code = optional_code_field()


class ActionForm(FlaskForm):
    code = optional_code_field()


class ImportForm(FlaskForm):
    file = FileField("CSV file")
    code = optional_code_field()
