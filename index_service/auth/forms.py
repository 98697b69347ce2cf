"""Sign-in forms, and the security-code field that dangerous actions ask for again."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, Regexp


def security_code_field(label: str = "Security code") -> StringField:
    """A 6-digit code from the authenticator app: at sign-in, and again before shielding or an override."""
    return StringField(
        label,
        validators=[
            DataRequired("Enter the 6-digit security code from your authenticator app"),
            Regexp(r"^\s*\d{3}\s?\d{3}\s*$", message="The security code must be 6 digits, like 123456"),
        ],
    )


class PasswordForm(FlaskForm):
    email = EmailField("Email address", validators=[DataRequired("Enter your email address"), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired("Enter your password"), Length(max=200)])


class CodeForm(FlaskForm):
    code = security_code_field()
