"""Sign-in forms, and the security-code field that dangerous actions ask for again."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional, Regexp


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


class RecoveryCodeForm(FlaskForm):
    recovery_code = StringField(
        "Recovery code",
        validators=[DataRequired("Enter one of your recovery codes"), Length(max=40)],
    )


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        "Current password", validators=[DataRequired("Enter your current password"), Length(max=200)]
    )
    new_password = PasswordField("New password", validators=[DataRequired("Enter a new password")])
    confirm_password = PasswordField(
        "Confirm new password",
        validators=[
            DataRequired("Enter the new password again"),
            EqualTo("new_password", message="The two new passwords must match"),
        ],
    )
    code = StringField(
        "Security code",
        validators=[
            Optional(),
            Regexp(r"^\s*\d{3}\s?\d{3}\s*$", message="The security code must be 6 digits, like 123456"),
        ],
    )
