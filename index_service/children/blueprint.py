"""Web pages for practitioners: the search form, its results, and the child's record."""

from __future__ import annotations

from flask import Blueprint, g, make_response, redirect, render_template, url_for
from werkzeug.wrappers import Response

from accreditation.permissions import Permission, is_allowed
from index_service.children import operations
from index_service.children.criteria import SearchPurpose
from index_service.children.forms import SearchForm
from index_service.children.search_limits import SearchLimitReached
from index_service.guards import requires
from matching.search import TOO_MANY

blueprint = Blueprint("web", __name__)


@blueprint.route("/")
@requires(Permission.SIGNED_IN)
def home() -> str | Response:
    if is_allowed(g.user.roles, Permission.RECORD_SEARCH):
        return redirect(url_for("web.search"))
    if is_allowed(g.user.roles, Permission.USER_MANAGE):
        return redirect(url_for("accounts.users"))
    return render_template("home.html")


@blueprint.route("/search", methods=["GET", "POST"])
@requires(Permission.RECORD_SEARCH)
def search() -> str | Response:
    form = SearchForm()
    outcome = None
    if form.validate_on_submit():
        try:
            outcome = operations.search(
                form.criteria(), SearchPurpose(form.purpose.data), form.purpose_note.data, g.user
            )
        except SearchLimitReached as refused:
            response = make_response(render_template("children/search_limited.html", refused=refused), 429)
            response.headers["Retry-After"] = str(refused.retry_after)
            return response
    return render_template("children/search.html", form=form, outcome=outcome, too_many_message=TOO_MANY)


@blueprint.route("/children/<index_id>")
@requires(Permission.RECORD_VIEW)
def record(index_id: str) -> str:
    return render_template(
        "children/record.html",
        child=operations.view_typed(index_id, g.user),
        can_shield=is_allowed(g.user.roles, Permission.SHIELD_MANAGE),
        can_override=is_allowed(g.user.roles, Permission.EMERGENCY_OVERRIDE),
    )
