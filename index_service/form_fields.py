"""Form fields and validators several features' forms share (a day typed as day/month/year, a
security code, required text), apart from any feature so each feature's forms import them without
importing another feature."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from flask_wtf import FlaskForm
from wtforms import Field, StringField
from wtforms.validators import DataRequired, Optional, Regexp, ValidationError

DATE_FORMATS = ("%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y")


def day_field(
    label: str, example: str = "31/03/2027", not_future: bool = False, required: str | None = None
) -> StringField:
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
    return StringField(
        "Security code",
        validators=[
            Optional(),
            Regexp(r"^\s*\d{3}\s?\d{3}\s*$", message="The security code must be 6 digits, like 123456"),
        ],
    )


def parsed(field: Field) -> date | None:
    return getattr(field, "parsed", None)


def security_code_field(label: str = "Security code") -> StringField:
    """A 6-digit code from the authenticator app: at sign-in, and again before shielding or an override."""
    return StringField(
        label,
        validators=[
            DataRequired("Enter the 6-digit security code from your authenticator app"),
            Regexp(r"^\s*\d{3}\s?\d{3}\s*$", message="The security code must be 6 digits, like 123456"),
        ],
    )


def required_text(missing: str, characters: int = 1, short: str = "") -> Callable[[FlaskForm, Field], None]:
    """Required text, white space not counted, of at least `characters` (else the `short` message)."""

    def validate(_form: FlaskForm, field: Field) -> None:
        text = " ".join((field.data or "").split())
        if not text:
            raise ValidationError(missing)
        if len(text) < characters:
            raise ValidationError(short)

    return validate
