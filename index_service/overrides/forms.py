"""The practitioner's emergency override form, and the auditor's review form."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import RadioField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from index_service.form_fields import required_text, security_code_field
from shielding.policy import (
    JUSTIFICATION_MIN_LENGTH,
    NOTE_MAX_LENGTH,
    REVIEW_NOTE_MIN_LENGTH,
    OverrideOutcome,
    OverrideReason,
)


class OverrideForm(FlaskForm):
    reason = RadioField(
        "Why do you need to see this record now?",
        choices=[SelectChoice(reason.value, reason.label) for reason in OverrideReason],
        validators=[DataRequired("Select why you need emergency access")],
    )
    justification = TextAreaField(
        "Justification",
        validators=[
            required_text(
                "Explain why you need to see this record now",
                JUSTIFICATION_MIN_LENGTH,
                f"Explain in at least {JUSTIFICATION_MIN_LENGTH} characters why you need to see this record now",
            ),
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
            required_text(
                "Write what you found",
                REVIEW_NOTE_MIN_LENGTH,
                f"Write what you found in at least {REVIEW_NOTE_MIN_LENGTH} characters",
            ),
            Length(max=NOTE_MAX_LENGTH),
        ],
    )
