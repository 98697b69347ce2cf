"""The practitioner's lookups, shared by the pages and the API: search and view, audited."""

from __future__ import annotations

from typing import Any

from flask import session
from werkzeug.exceptions import BadRequest, NotFound

from index_service.audit.events import record_event
from index_service.audit.models import AuditTag, Outcome
from index_service.auth.models import User
from index_service.children.criteria import Criteria, SearchPurpose, audit_criteria, query_from
from index_service.children.lookup import SearchOutcome, child_by_index_id, search_children
from index_service.children.present import viewer_for, visible_record
from index_service.children.search_limits import SearchLimitReached, count_search
from index_service.index_ids import IndexIdError, parse_index_id


def search(criteria: Criteria, purpose: SearchPurpose, note: str | None, user: User) -> SearchOutcome:
    """Search, and record what was asked, why, and which children were shown.

    A search beyond the person's limits is refused (SearchLimitReached) and recorded as denied,
    with what was asked; it does not count toward the limits.
    """
    try:
        count_search(user)
    except SearchLimitReached as refused:
        record_event(
            AuditTag.RECORD_SEARCH,
            Outcome.DENIED,
            reason=purpose.value,
            details={"criteria": audit_criteria(criteria), "note": note or None, **refused.audit_details()},
        )
        raise
    outcome = search_children(query_from(criteria), viewer_for(user))
    record_event(
        AuditTag.RECORD_SEARCH,
        target_ids=[result["index_id"] for result in outcome.results],
        reason=purpose.value,
        details={
            "criteria": audit_criteria(criteria),
            "note": note or None,
            "too_many": outcome.too_many,
            "candidates_read": outcome.candidates_read,
        },
    )
    session["purpose"] = purpose.value
    return outcome


NOT_FOUND = "No child has that index ID. Check it and try again, or search by name and date of birth."


def view_typed(typed_index_id: str, user: User) -> dict[str, Any]:
    """The record for an index id as typed: 400 when it cannot be one, 404 when nobody has it."""
    try:
        index_id = parse_index_id(typed_index_id)
    except IndexIdError as error:
        raise BadRequest(str(error)) from error
    record = view(index_id, user)
    if record is None:
        raise NotFound(NOT_FOUND)
    return record


def view(index_id: str, user: User) -> dict[str, Any] | None:
    """The record as this user may see it, or None; the view is recorded either way."""
    child = child_by_index_id(index_id)
    if child is None:
        record_event(AuditTag.RECORD_VIEW, Outcome.FAILURE, target_ids=[index_id], details={"why": "not found"})
        return None
    record = visible_record(child, viewer_for(user))
    record_event(
        AuditTag.RECORD_VIEW,
        target_ids=[index_id],
        reason=session.get("purpose"),
        details={"redacted": record["shielded_contact"] is not None, "shielded": child.is_shielded},
    )
    return record
