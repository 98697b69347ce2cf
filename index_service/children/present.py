"""The child as plain data, before redaction: the only shape pages and the API receive.

Whatever leaves the service is built from redact(record_of(child), viewer), so a shielded
child's hidden fields never reach a template or a serialiser.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from accreditation.permissions import Permission, is_allowed
from index_service.auth.models import User
from index_service.children.models import Child
from index_service.children.shielding_decisions import shielding_details
from shielding.redaction import SHIELDING_DETAILS, Viewer, redact


def viewer_for(user: User) -> Viewer:
    return Viewer(
        may_see_shielded=is_allowed(user.roles, Permission.SHIELDED_RECORD_VIEW),
        may_see_shielding_details=is_allowed(user.roles, Permission.SHIELDING_DETAILS_VIEW),
    )


def _source(source: Any) -> str | None:
    """The name of the source (a sources.models.DataSource) that supplied a value, if one did."""
    return source.name if source else None


def _address(child: Child) -> dict[str, Any] | None:
    address = child.current_address
    if address is None:
        return None
    return {
        "line1": address.line1,
        "line2": address.line2,
        "town": address.town,
        "postcode": address.postcode,
        "source": _source(address.source),
        "supplied_at": address.supplied_at,
    }


def record_of(child: Child, today: date | None = None) -> dict[str, Any]:
    today = today or date.today()
    return {
        "index_id": child.index_id,
        "given_name": child.given_name,
        "middle_names": child.middle_names,
        "family_name": child.family_name,
        "other_names": [
            {
                "kind": name.kind.value,
                "given_name": name.given_name,
                "family_name": name.family_name,
                "source": _source(name.source),
                "supplied_at": name.supplied_at,
            }
            for name in child.other_names
        ],
        "date_of_birth": child.date_of_birth,
        "gender": child.gender.value,
        "status": child.status.value,
        "is_shielded": child.is_shielded,
        "address": _address(child),
        "carers": [
            {
                "name": carer.name,
                "relationship": carer.relationship_to_child,
                "phone": carer.phone,
                "source": _source(carer.source),
                "supplied_at": carer.supplied_at,
            }
            for carer in child.carers
        ],
        "identifiers": [
            {
                "kind": identifier.kind.value,
                "value": identifier.value,
                "source": _source(identifier.source),
                "supplied_at": identifier.supplied_at,
            }
            for identifier in child.identifiers
        ],
        "involvements": [
            {
                "service": involvement.service.value,
                "service_label": involvement.service.label,
                "organisation": involvement.organisation.name,
                "organisation_phone": involvement.organisation.phone,
                "role": involvement.role,
                "practitioner_name": involvement.practitioner_name,
                "practitioner_phone": involvement.practitioner_phone,
                "practitioner_email": involvement.practitioner_email,
                "start_date": involvement.start_date,
                "end_date": involvement.end_date,
                "is_current": involvement.end_date is None or involvement.end_date >= today,
                "is_lead_professional": involvement.is_lead_professional,
                "has_early_help_assessment": involvement.has_early_help_assessment,
                "source": _source(involvement.source),
                "supplied_at": involvement.supplied_at,
            }
            for involvement in child.involvements
        ],
        "provenance": [
            {"field": item.field, "source": _source(item.source), "supplied_at": item.supplied_at}
            for item in child.provenance
        ],
    }


def visible_record(child: Child, viewer: Viewer) -> dict[str, Any]:
    """Everything the record holds, shielding decisions included, as redact() lets this viewer see it."""
    return redact({**record_of(child), SHIELDING_DETAILS: shielding_details(child)}, viewer)
