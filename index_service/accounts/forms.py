"""User administration's forms: an account (create and edit), an action needing a fresh code, an import."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import EmailField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from index_service.form_fields import day_field, optional_code_field
from matching.normalise import postcode_district


class AccountForm(FlaskForm):
    display_name = StringField("Full name", validators=[DataRequired("Enter the person's full name"), Length(max=200)])
    email = EmailField(
        "Work email address",
        validators=[
            DataRequired("Enter the person's work email address"),
            Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message="Enter an email address like name@example.org"),
            Length(max=254),
        ],
    )
    roles = SelectMultipleField("Roles", choices=[], validators=[DataRequired("Select at least one role")])
    vetting_reference = StringField("Vetting check reference", validators=[Optional(), Length(max=60)])
    vetting_expires_on = day_field("Vetting check expiry date")
    training_completed_on = day_field("Training completed on", "14/01/2026", not_future=True)
    approved_on = day_field("Manager approved on", "14/01/2026", not_future=True)
    line_manager = SelectField("Line manager", choices=[])
    home_postcode_district = StringField(
        "Home postcode district (optional)",
        filters=[lambda text: postcode_district(text) or text],
        validators=[
            Optional(),
            Regexp(
                r"^[A-Z]{1,2}[0-9][A-Z0-9]?$",
                message="Enter the first part of a postcode, like LS6, or a whole postcode, like LS6 2AB",
            ),
        ],
    )
    code = optional_code_field()


class ActionForm(FlaskForm):
    code = optional_code_field()


class ImportForm(FlaskForm):
    file = FileField("CSV file")
    code = optional_code_field()
