"""/api/v1/children: the same search and view as the pages, as JSON."""

from __future__ import annotations

from typing import Any

from flask import g
from werkzeug.exceptions import BadRequest, TooManyRequests

from accreditation.permissions import Permission
from index_service.children import operations
from index_service.children.criteria import CRITERIA_FIELDS, Criteria, query_from
from index_service.children.schemas import ChildSchema, SearchArgs, SearchResponseSchema
from index_service.children.search_limits import SearchLimitReached
from index_service.guards import requires
from index_service.request_input import ApiBlueprint
from matching.search import TOO_MANY, missing_detail

blueprint = ApiBlueprint(
    "children_api", __name__, url_prefix="/api/v1/children", description="Look up children in the index"
)


@blueprint.route("/search", methods=["POST"])
@blueprint.arguments(SearchArgs)
@blueprint.response(200, SearchResponseSchema)
@blueprint.alt_response(400, description="Not enough details to identify one child")
@blueprint.alt_response(
    429,
    description="The person's search limit for a minute or a day is reached: the message "
    "says when they can search again, and so does Retry-After (seconds)",
)
@requires(Permission.RECORD_SEARCH)
def search(args: dict[str, Any]) -> dict[str, Any]:
    """Search by the details you have; criteria travel in the body, never the URL."""
    criteria = Criteria(**{key: args[key] for key in CRITERIA_FIELDS if key in args})  # type: ignore[typeddict-item]
    missing = missing_detail(query_from(criteria))
    if missing:
        raise BadRequest(missing)
    try:
        outcome = operations.search(criteria, args["purpose"], args.get("purpose_note"), g.user)
    except SearchLimitReached as refused:
        raise TooManyRequests(refused.message, retry_after=refused.retry_after) from refused
    if outcome.too_many:
        return {"outcome": "too_many", "message": TOO_MANY, "results": []}
    if not outcome.results:
        return {"outcome": "none", "message": "No child matches these details.", "results": []}
    return {"outcome": "results", "message": None, "results": outcome.results}


@blueprint.route("/<index_id>", methods=["GET"])
@blueprint.response(200, ChildSchema)
@blueprint.alt_response(404, description="No child has that index ID")
@requires(Permission.RECORD_VIEW)
def record(index_id: str) -> dict[str, Any]:
    """The child's record, with involvements and their contact details."""
    return operations.view_typed(index_id, g.user)
