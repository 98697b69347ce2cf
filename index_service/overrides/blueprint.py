"""Emergency override pages: the practitioner's request and one view, the auditors' queue and review."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response

from accreditation.permissions import Permission
from index_service.auth.reauth import confirm_fresh_code
from index_service.children.lookup import child_by_index_id, surviving
from index_service.children.operations import view_typed
from index_service.guards import requires
from index_service.overrides import operations
from index_service.overrides.forms import OverrideForm, ReviewForm
from shielding.policy import JUSTIFICATION_MIN_LENGTH, OVERRIDE_VALID_FOR, OverrideOutcome, OverrideReason

blueprint = Blueprint("overrides", __name__)

Page = str | Response | tuple[str, int]
VALID_MINUTES = int(OVERRIDE_VALID_FOR.total_seconds() // 60)


@blueprint.route("/children/<index_id>/override", methods=["GET", "POST"])
@requires(Permission.EMERGENCY_OVERRIDE)
def request_override(index_id: str) -> Page:
    """The warning, the reason, the justification and a fresh code; then the one view."""
    child = view_typed(index_id, g.user)
    if child["shielded_contact"] is None:
        flash("This record is not shielded to you: you can see it without emergency access.", "info")
        return redirect(url_for("web.record", index_id=child["index_id"]))
    form = OverrideForm()

    def page(status: int) -> tuple[str, int]:
        return render_template(
            "overrides/request.html",
            child=child,
            form=form,
            valid_minutes=VALID_MINUTES,
            minimum=JUSTIFICATION_MIN_LENGTH,
        ), status

    if not form.validate_on_submit():
        return page(400 if request.method == "POST" else 200)
    refused = confirm_fresh_code(g.user, form.code.data, "override")
    if refused:
        form.code.errors = [refused.message]
        return page(refused.status)
    held = child_by_index_id(child["index_id"])
    if held is None:
        raise NotFound()
    override = operations.grant(held, OverrideReason(form.reason.data), form.justification.data.strip(), g.user)
    return redirect(url_for("overrides.view", reference=override.reference))


@blueprint.route("/overrides/<reference>")
@requires(Permission.EMERGENCY_OVERRIDE)
def view(reference: str) -> Page:
    """The whole record, once, before the override expires; never again from the same override."""
    override = operations.by_reference(reference)
    if override is None or override.user_id != g.user.id:
        raise NotFound("None of your emergency accesses has that reference.")
    seen = operations.use(override, g.user)
    if seen.record is None:
        return render_template("overrides/ended.html", seen=seen, valid_minutes=VALID_MINUTES), 410
    return render_template("children/record.html", child=seen.record, override=override, valid_minutes=VALID_MINUTES)


@blueprint.route("/audit/overrides")
@requires(Permission.OVERRIDE_REVIEW)
def dashboard() -> str:
    """Every override waiting for review, at once: references and people, never the child's details."""
    return render_template(
        "overrides/dashboard.html", waiting=operations.open_overrides(), reviewed=operations.recently_reviewed()
    )


@blueprint.route("/audit/overrides/<reference>", methods=["GET", "POST"])
@requires(Permission.OVERRIDE_REVIEW)
def review(reference: str) -> Page:
    override = operations.by_reference(reference)
    if override is None:
        raise NotFound("No emergency access has that reference.")
    form = ReviewForm()

    def page(status: int) -> tuple[str, int]:
        return render_template(
            "overrides/review.html",
            override=override,
            form=form,
            others=operations.others_by_same_user(override),
            index_id=surviving(override.child).index_id,
            own=override.user_id == g.user.id,
        ), status

    if not form.validate_on_submit():
        return page(400 if request.method == "POST" else 200)
    try:
        operations.review(override, OverrideOutcome(form.outcome.data), form.note.data.strip(), g.user)
    except operations.OverrideError as error:
        form.form_errors.append(str(error))
        return page(403 if override.user_id == g.user.id else 409)
    flash(f"Recorded the outcome of {override.reference}: {override.outcome.label.lower()}", "success")
    return redirect(url_for("overrides.dashboard"))
