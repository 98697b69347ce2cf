"""The shielder's forms: shield (with the household), and unshield; each asks for a fresh code."""

from __future__ import annotations

from datetime import date, datetime

from flask_wtf import FlaskForm
from wtforms import Field, RadioField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, ValidationError

from index_service.form_fields import required_text, security_code_field
from shielding.policy import NOTE_MAX_LENGTH, ShieldReason, review_date_problem

DATE_FORMATS = ("%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y", "%d %m %Y")


def parse_review_date(text: str) -> date:
    """A review date as typed, or ValidationError saying how to write it."""
    for pattern in DATE_FORMATS:
        try:
            return datetime.strptime(text.strip(), pattern).date()
        except ValueError:
            continue
    raise ValidationError("Enter the review date as day/month/year, like 31/03/2027")


def _review_date(_form: FlaskForm, field: Field) -> None:
    if field.data and field.data.strip():
        field.parsed = parse_review_date(field.data)
        problem = review_date_problem(field.parsed, date.today())
        if problem:
            raise ValidationError(problem)


class ShieldForm(FlaskForm):
    reason = RadioField(
        "Why must this child be shielded?",
        choices=[SelectChoice(reason.value, reason.label) for reason in ShieldReason],
        validators=[DataRequired("Select why the child must be shielded")],
    )
    note = TextAreaField(
        "A note for shielders and auditors",
        validators=[required_text("Write a note for shielders and auditors"), Length(max=NOTE_MAX_LENGTH)],
    )
    review_date = StringField("Review date", validators=[DataRequired("Enter a review date"), _review_date])
    household = SelectMultipleField("Other children at this address", choices=[])
    code = security_code_field()

    def chosen_household(self) -> set[str]:
        return set(self.household.data or [])


class UnshieldForm(FlaskForm):
    note = TextAreaField(
        "Why is shielding no longer needed?",
        validators=[required_text("Write why shielding is no longer needed"), Length(max=NOTE_MAX_LENGTH)],
    )
    code = security_code_field()
