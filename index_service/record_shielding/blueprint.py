"""The shielder's pages: shield a record (and its household in the same step), unshield it, and the
shielded records due for review."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from werkzeug.exceptions import BadRequest, Conflict, NotFound
from werkzeug.wrappers import Response
from wtforms.fields.choices import SelectChoice

from accreditation.permissions import Permission
from index_service.auth.reauth import confirm_fresh_code
from index_service.children.lookup import child_by_index_id
from index_service.children.models import Child
from index_service.children.operations import NOT_FOUND
from index_service.children.shielding_decisions import household_of
from index_service.filters import long_date
from index_service.guards import requires
from index_service.index_ids import IndexIdError, format_index_id, parse_index_id
from index_service.paging import page_asked, page_count
from index_service.record_shielding import operations
from index_service.record_shielding.forms import ShieldForm, UnshieldForm
from shielding.policy import ShieldReason

blueprint = Blueprint("shields", __name__)

Page = str | Response | tuple[str, int]
PER_PAGE = 20


def _child(typed_index_id: str) -> Child:
    try:
        index_id = parse_index_id(typed_index_id)
    except IndexIdError as error:
        raise BadRequest(str(error)) from error
    child = child_by_index_id(index_id)
    if child is None:
        raise NotFound(NOT_FOUND)
    return child


def _refused_status() -> int:
    return 400 if request.method == "POST" else 200


@blueprint.route("/children/<index_id>/shield", methods=["GET", "POST"])
@requires(Permission.SHIELD_MANAGE)
def shield(index_id: str) -> Page:
    child = _child(index_id)
    offered = [other for other in household_of(child) if not other.is_shielded]
    form = ShieldForm()
    form.household.choices = [
        SelectChoice(
            other.index_id,
            f"{other.given_name} {other.family_name}, born {long_date(other.date_of_birth)} "
            f"(index ID {format_index_id(other.index_id)})",
        )
        for other in offered
    ]
    if request.method == "GET":
        form.household.data = [other.index_id for other in offered]

    def page(status: int) -> tuple[str, int]:
        return render_template("shields/shield.html", child=child, form=form, offered=offered), status

    if not form.validate_on_submit():
        return page(_refused_status())
    refused = confirm_fresh_code(g.user, form.code.data, "shield")
    if refused:
        form.code.errors = [refused.message]
        return page(refused.status)
    chosen = [other for other in offered if other.index_id in form.chosen_household()]
    operations.shield(
        child, ShieldReason(form.reason.data), form.note.data.strip(), form.review_date.parsed, g.user, chosen
    )
    names = ", ".join(f"{other.given_name} {other.family_name}" for other in chosen)
    flash(
        f"{child.given_name} {child.family_name}'s record is shielded"
        + (f", and so are the records of {names}" if names else ""),
        "success",
    )
    return redirect(url_for("web.record", index_id=child.index_id))


@blueprint.route("/children/<index_id>/unshield", methods=["GET", "POST"])
@requires(Permission.SHIELD_MANAGE)
def unshield(index_id: str) -> Page:
    child = _child(index_id)
    if not child.is_shielded:
        raise Conflict("This record is not shielded, so there is no shielding to remove.")
    form = UnshieldForm()

    def page(status: int) -> tuple[str, int]:
        return render_template("shields/unshield.html", child=child, form=form), status

    if not form.validate_on_submit():
        return page(_refused_status())
    refused = confirm_fresh_code(g.user, form.code.data, "unshield")
    if refused:
        form.code.errors = [refused.message]
        return page(refused.status)
    operations.unshield(child, form.note.data.strip(), g.user)
    flash(f"Shielding is removed from {child.given_name} {child.family_name}'s record", "success")
    return redirect(url_for("web.record", index_id=child.index_id))


@blueprint.route("/shielding")
@requires(Permission.SHIELD_MANAGE)
def reviews() -> str:
    """Shielded records due for review in the next 30 days, overdue and unrecorded ones first."""
    page = page_asked()
    today = date.today()
    due, total = operations.due_reviews(today, page=page, per_page=PER_PAGE)
    return render_template(
        "shields/reviews.html",
        due=due,
        total=total,
        page=page,
        today=today,
        pages=page_count(total, PER_PAGE),
        within=operations.UPCOMING.days,
    )
