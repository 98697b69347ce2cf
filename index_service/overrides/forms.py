"""The practitioner's emergency override form, and the auditor's review form."""

from __future__ import annotations

from collections.abc import Callable

from flask_wtf import FlaskForm
from wtforms import Field, RadioField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, ValidationError

from index_service.auth.forms import security_code_field
from shielding.policy import (
    JUSTIFICATION_MIN_LENGTH,
    NOTE_MAX_LENGTH,
    REVIEW_NOTE_MIN_LENGTH,
    OverrideOutcome,
    OverrideReason,
)


def _at_least(characters: int, missing: str, short: str) -> Callable[[FlaskForm, Field], None]:
    """Required text of a minimum length, white space not counted."""

    def validate(_form: FlaskForm, field: Field) -> None:
        text = " ".join((field.data or "").split())
        if not text:
            raise ValidationError(missing)
        if len(text) < characters:
            raise ValidationError(short)

    return validate


class OverrideForm(FlaskForm):
    reason = RadioField(
        "Why do you need to see this record now?",
        choices=[SelectChoice(reason.value, reason.label) for reason in OverrideReason],
        validators=[DataRequired("Select why you need emergency access")],
    )
    justification = TextAreaField(
        "Justification",
        validators=[
            _at_least(JUSTIFICATION_MIN_LENGTH, "Explain why you need to see this record now",
                      f"Explain in at least {JUSTIFICATION_MIN_LENGTH} characters why you need to see this record now"),
            Length(max=NOTE_MAX_LENGTH),
        ],
    )
    code = security_code_field()


class ReviewForm(FlaskForm):
    outcome = RadioField(
        "Outcome",
        choices=[SelectChoice(outcome.value, outcome.label) for outcome in OverrideOutcome],
        validators=[DataRequired("Select the outcome of your review")],
    )
    note = TextAreaField(
        "Review note",
        validators=[
            _at_least(REVIEW_NOTE_MIN_LENGTH, "Write what you found",
                      f"Write what you found in at least {REVIEW_NOTE_MIN_LENGTH} characters"),
            Length(max=NOTE_MAX_LENGTH),
        ],
    )
