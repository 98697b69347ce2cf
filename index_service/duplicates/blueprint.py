"""The possible duplicates the sweep found, in the data administrator's review queue: the list,
each pair side by side with how each field compared, and the decisions (merge, not the same
child, undo a merge made here).

An item the user may not see (another organisation's records only, or a shielded record to one
who may not see shielded records) is "not found" (404), never shown and never acted on.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from accreditation.permissions import Permission, is_allowed
from index_service.children.models import Child
from index_service.children.present import viewer_for, visible_record
from index_service.duplicates import decisions
from index_service.duplicates.models import DuplicateItem, DuplicateStatus
from index_service.extensions import db
from index_service.guards import requires
from index_service.paging import page_asked, page_count

blueprint = Blueprint("duplicates", __name__, url_prefix="/data/duplicates")
PAGE_SIZE = 20


@blueprint.app_template_global()
def possible_duplicates() -> int:
    """How many possible duplicates wait for the signed-in user (for the review queue's page)."""
    user = g.get("user")
    if user is None or not is_allowed(user.roles, Permission.REVIEW_DECIDE):
        return 0
    return decisions.open_count(user)


def _item(item_id: str) -> DuplicateItem:
    if not item_id.isdigit() or len(item_id) > 18:
        abort(404)
    item = decisions.visible_item(g.user, int(item_id))
    if item is None:
        abort(404)  # never confirm that another organisation's item, or a shielded one, exists
    return item


@blueprint.route("")
@requires(Permission.REVIEW_DECIDE)
def queue() -> str:
    page = page_asked()
    items, total = decisions.queue(g.user, page, PAGE_SIZE)
    return render_template(
        "duplicates/queue.html",
        items=items,
        total=total,
        page=page,
        pages=page_count(total, PAGE_SIZE),
        label=decisions.LABEL,
    )


def _render(item: DuplicateItem, error: str | None = None, status: int = 200) -> tuple[str, int]:
    viewer = viewer_for(g.user)
    found = {
        child.id: visible_record(child, viewer)
        for child in db.session.scalars(
            select(Child)
            .where(Child.id.in_([item.first_child_id, item.second_child_id]))
            .options(
                selectinload(Child.addresses),
                selectinload(Child.carers),
                selectinload(Child.identifiers),
                selectinload(Child.other_names),
                selectinload(Child.involvements),
            )
        )
    }
    records = [found[item.first_child_id], found[item.second_child_id]]
    merged_away = [item.first.merged_into_id is not None, item.second.merged_into_id is not None]
    return (
        render_template(
            "duplicates/item.html",
            item=item,
            records=records,
            merged_away=merged_away,
            comparison=item.comparison,
            error=error,
            pending=item.status is DuplicateStatus.OPEN,
            may_merge=is_allowed(g.user.roles, Permission.RECORD_MERGE),
            label=decisions.LABEL,
        ),
        status,
    )


@blueprint.route("/<item_id>")
@requires(Permission.REVIEW_DECIDE)
def item(item_id: str) -> tuple[str, int]:
    return _render(_item(item_id))


@blueprint.route("/<item_id>/merge", methods=["POST"])
@requires(Permission.RECORD_MERGE)
def merge(item_id: str) -> Response | tuple[str, int]:
    found = _item(item_id)
    try:
        decisions.merge_item(found, request.form.get("kept", ""), g.user)
    except decisions.DuplicateError as error:
        return _render(found, str(error), 409)
    assert found.merge is not None
    flash(
        f"Merged {found.merge.retired.index_id} into {found.merge.surviving.index_id}. You can undo this here.",
        "success",
    )
    return redirect(url_for("duplicates.item", item_id=found.id))


@blueprint.route("/<item_id>/not-the-same", methods=["POST"])
@requires(Permission.REVIEW_DECIDE)
def not_the_same(item_id: str) -> Response | tuple[str, int]:
    found = _item(item_id)
    try:
        decisions.not_the_same(found, g.user)
    except decisions.DuplicateError as error:
        return _render(found, str(error), 409)
    flash("Marked as two different children: the sweep will not propose this pair again", "success")
    return redirect(url_for("duplicates.queue"))


@blueprint.route("/<item_id>/unmerge", methods=["POST"])
@requires(Permission.RECORD_MERGE)
def unmerge(item_id: str) -> Response | tuple[str, int]:
    found = _item(item_id)
    try:
        decisions.unmerge_item(found, g.user)
    except decisions.DuplicateError as error:
        return _render(found, str(error), 409)
    flash("Undid the merge: the two records are separate again", "success")
    return redirect(url_for("duplicates.item", item_id=found.id))
