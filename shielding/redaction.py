"""Redaction of shielded records, applied before any page, API response or report sees them.

ContactPoint's rule: of a shielded child an ordinary viewer sees the index id, names, date of
birth and gender, the word "shielded" and whom to contact. Nothing that could lead to the
child's whereabouts: no address, carer, service, identifier or provenance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

INDEX_TEAM_CONTACT = "Contact the Child Index team on 0300 123 4567 or index.team@childindex.example"

VISIBLE_WHEN_SHIELDED = frozenset(
    {"index_id", "given_name", "middle_names", "family_name", "other_names", "date_of_birth", "gender", "status"}
)


# The shielding decisions themselves (reason, note, review date, who decided): for shielders and
# auditors only, never for a practitioner, not even one who has broken the glass.
SHIELDING_DETAILS = "shielding"


@dataclass(frozen=True)
class Viewer:
    """What one viewer may see: from their roles, and for one record from an emergency override.

    `overriding` is set only for the record an override was granted for, for its one view.
    """

    may_see_shielded: bool
    may_see_shielding_details: bool = False
    overriding: bool = False


def redact(record: dict[str, Any], viewer: Viewer) -> dict[str, Any]:
    """The record as this viewer may see it; a shielded record loses every hidden field.

    The result always carries `shielded`, `shielded_contact` and `shielding` (None unless the
    viewer may see shielding decisions), so templates and schemas need no other test.
    """
    details = record.get(SHIELDING_DETAILS) if viewer.may_see_shielding_details else None
    if not record["is_shielded"] or viewer.may_see_shielded or viewer.overriding:
        full = {key: value for key, value in record.items() if key != SHIELDING_DETAILS}
        return {**full, "shielded": record["is_shielded"], "shielded_contact": None, SHIELDING_DETAILS: details}
    visible = {key: value for key, value in record.items() if key in VISIBLE_WHEN_SHIELDED}
    visible["other_names"] = [
        {"kind": name["kind"], "given_name": name["given_name"], "family_name": name["family_name"]}
        for name in record.get("other_names", [])
    ]
    return {**visible, "shielded": True, "shielded_contact": INDEX_TEAM_CONTACT, SHIELDING_DETAILS: details}


def hidden_from_search(is_shielded: bool, searched_by_hidden_field: bool) -> bool:
    """A search on a hidden field (a postcode) never returns a shielded child, for anyone.

    Otherwise guessing postcodes with a known name would confirm where the child lives.
    """
    return is_shielded and searched_by_hidden_field


def redact_comparison(candidate: dict[str, Any], shown_redacted: bool) -> dict[str, Any] | None:
    """A review candidate, or None when the viewer may not see the shielded record it is.

    A review item is made from a row the data administrator's own source sent, so showing that
    a shielded record resembles it, even by index id alone, would confirm where a shielded
    child lives to anyone who loads a guessed postcode and date of birth.
    """
    return None if shown_redacted else candidate


def hides_review_item(best_is_shielded: bool, viewer: Viewer) -> bool:
    """A review item whose best candidate is a shielded record is for those who may see it.

    Its row resembles her more than any other child: by names and date of birth alone (a link
    needs her NHS number or UPN), and so closely that the item is about her. Only someone who may
    see the record can judge it, and no one else is shown it, nor decides it: others are told only
    how many such items wait. The shielded candidate of any other item is left out as
    redact_comparison says.
    """
    return best_is_shielded and not viewer.may_see_shielded
