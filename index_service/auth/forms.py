"""Sign-in forms; the security-code field they ask for is shared, in form_fields."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional, Regexp

from index_service.form_fields import security_code_field


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
