"""Forms: choosing one's organisation at sign-in; the index team's provider settings and identities."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app
from flask_wtf import FlaskForm
from wtforms import Field, PasswordField, RadioField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, ValidationError

from index_service.form_fields import required_text

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def _issuer(_form: FlaskForm, field: Field) -> None:
    """An https URL; plain http only to this machine, and only outside production."""
    parts = urlsplit((field.data or "").strip())
    local = current_app.config["INDEX_ENVIRONMENT"] != "production" and parts.hostname in LOCAL_HOSTS
    if (
        not parts.hostname
        or parts.query
        or parts.fragment
        or not (parts.scheme == "https" or (parts.scheme == "http" and local))
    ):
        raise ValidationError("Enter the issuer as an https address, like https://login.example.org/tenant")


def _yes_no(label: str, message: str) -> RadioField:
    return RadioField(
        label, choices=[SelectChoice("yes", "Yes"), SelectChoice("no", "No")], validators=[DataRequired(message)]
    )


class ChooseOrganisationForm(FlaskForm):
    provider = SelectField(
        "Your organisation", coerce=int, validators=[DataRequired("Select your organisation")], validate_choice=True
    )


class ProviderForm(FlaskForm):
    organisation = SelectField("Organisation", coerce=int, validators=[DataRequired("Select the organisation")])
    issuer = StringField("Issuer", validators=[required_text("Enter the provider's issuer"), Length(max=300), _issuer])
    client_id = StringField("Client ID", validators=[required_text("Enter the client ID"), Length(max=200)])
    client_secret = PasswordField("Client secret", validators=[Length(max=2000)])
    trusts_provider_mfa = _yes_no(
        "Trust the provider's multi-factor sign-in instead of the index's own code?",
        "Say whether to trust the provider's multi-factor sign-in",
    )
    is_enabled = _yes_no("Offer sign-in through this provider?", "Say whether to offer sign-in through it")


class LinkIdentityForm(FlaskForm):
    email = StringField(
        "User's email address", validators=[required_text("Enter the user's email address"), Length(max=254)]
    )
    subject = StringField(
        "Subject (sub) at the provider",
        validators=[required_text("Enter the subject the provider gives this user"), Length(max=255)],
    )
