"""The index team's "Acting for" form: whom the lookups are for, and how to call them back."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import Length

from index_service.form_fields import required_text

NAME_MAX_LENGTH = 200  # the width of audit_events.on_behalf_of_name and _organisation
CONTACT_MAX_LENGTH = 100


class OnBehalfOfForm(FlaskForm):
    practitioner_name = StringField(
        "Practitioner's full name",
        validators=[
            required_text("Enter the name of the practitioner you are acting for"),
            Length(max=NAME_MAX_LENGTH, message=f"The name must be {NAME_MAX_LENGTH} characters or fewer"),
        ],
    )
    practitioner_organisation = StringField(
        "Their organisation",
        validators=[
            required_text("Enter the practitioner's organisation"),
            Length(max=NAME_MAX_LENGTH, message=f"The organisation must be {NAME_MAX_LENGTH} characters or fewer"),
        ],
    )
    contact = StringField(
        "Contact number or reference",
        validators=[
            required_text("Enter a phone number or reference to call the practitioner back"),
            Length(max=CONTACT_MAX_LENGTH, message=f"The contact must be {CONTACT_MAX_LENGTH} characters or fewer"),
        ],
    )

    def cleaned(self, field: StringField) -> str:
        return " ".join(field.data.split())
