"""redact(): what each kind of viewer sees of a shielded and an unshielded record."""

from __future__ import annotations

from datetime import date
from typing import Any

from shielding.redaction import (
    INDEX_TEAM_CONTACT,
    SHIELDING_DETAILS,
    Viewer,
    hidden_from_search,
    hides_review_item,
    redact,
)

PRACTITIONER = Viewer(may_see_shielded=False)
SHIELDER = Viewer(may_see_shielded=True, may_see_shielding_details=True)
OVERRIDING = Viewer(may_see_shielded=False, overriding=True)


def _record(is_shielded: bool = True) -> dict[str, Any]:
    return {
        "index_id": "4KX9TQ2MB",
        "given_name": "Amara",
        "middle_names": None,
        "family_name": "Okafor",
        "other_names": [
            {
                "kind": "former",
                "given_name": None,
                "family_name": "Walsh",
                "source": "Leeds census",
                "supplied_at": None,
            }
        ],
        "date_of_birth": date(2017, 5, 4),
        "gender": "female",
        "status": "active",
        "is_shielded": is_shielded,
        "address": {"line1": "1 Hidden Way", "postcode": "LS1 4AP"},
        "carers": [{"name": "Grace Okafor", "phone": "07700 900001"}],
        "identifiers": [{"kind": "nhs_number", "value": "9434765919"}],
        "involvements": [{"organisation": "Hidden Primary"}],
        "provenance": [{"field": "given_name", "source": "Leeds census"}],
        SHIELDING_DETAILS: {"current": {"note": "refuge placement"}, "history": []},
    }


def test_a_practitioner_sees_only_who_the_shielded_child_is_and_whom_to_ask() -> None:
    seen = redact(_record(), PRACTITIONER)
    assert set(seen) == {
        "index_id",
        "given_name",
        "middle_names",
        "family_name",
        "other_names",
        "date_of_birth",
        "gender",
        "status",
        "shielded",
        "shielded_contact",
        SHIELDING_DETAILS,
    }
    assert seen["shielded"] is True and seen["shielded_contact"] == INDEX_TEAM_CONTACT
    assert seen[SHIELDING_DETAILS] is None
    assert seen["other_names"] == [{"kind": "former", "given_name": None, "family_name": "Walsh"}]


def test_a_shielder_sees_everything_with_the_shielding_decisions() -> None:
    seen = redact(_record(), SHIELDER)
    assert seen["address"]["postcode"] == "LS1 4AP" and seen["shielded_contact"] is None
    assert seen[SHIELDING_DETAILS]["current"]["note"] == "refuge placement"


def test_an_override_shows_the_record_but_never_the_shielding_reason_or_note() -> None:
    seen = redact(_record(), OVERRIDING)
    assert seen["address"]["postcode"] == "LS1 4AP" and seen["carers"] and seen["involvements"]
    assert seen["shielded"] is True and seen[SHIELDING_DETAILS] is None


def test_an_unshielded_record_is_whole_but_its_shielding_history_stays_with_shielders() -> None:
    seen = redact(_record(is_shielded=False), PRACTITIONER)
    assert seen["address"]["line1"] == "1 Hidden Way" and seen["shielded"] is False
    assert seen[SHIELDING_DETAILS] is None
    assert redact(_record(is_shielded=False), SHIELDER)[SHIELDING_DETAILS] is not None


def test_a_record_without_shielding_details_is_redacted_the_same_way() -> None:
    record = _record()
    del record[SHIELDING_DETAILS]
    assert redact(record, SHIELDER)[SHIELDING_DETAILS] is None
    assert "address" not in redact(record, PRACTITIONER)


def test_a_postcode_search_never_returns_a_shielded_child() -> None:
    assert hidden_from_search(True, True)
    assert not hidden_from_search(True, False)
    assert not hidden_from_search(False, True)


def test_a_review_item_about_a_shielded_record_is_only_for_those_who_may_see_it() -> None:
    assert hides_review_item(True, PRACTITIONER)
    assert not hides_review_item(True, SHIELDER)
    assert not hides_review_item(False, PRACTITIONER)
    # Breaking the glass opens one record for one view, never the review queue.
    assert hides_review_item(True, OVERRIDING)
