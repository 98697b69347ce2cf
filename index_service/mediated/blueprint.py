"""Mediated access pages: start acting for a practitioner, end it, and the auditors' list of what was done."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from accreditation.permissions import Permission
from index_service.guards import requires
from index_service.mediated import operations, state
from index_service.mediated.forms import OnBehalfOfForm
from index_service.paging import page_asked, page_count

blueprint = Blueprint("mediated", __name__)

PER_PAGE = 50


@blueprint.app_context_processor
def _banner() -> dict[str, Any]:
    return {"on_behalf_of": g.get("on_behalf_of")}


@blueprint.route("/mediated-access", methods=["GET", "POST"])
@requires(Permission.MEDIATED_ACCESS)
def start() -> str | Response | tuple[str, int]:
    """Say whom the index team is acting for; every lookup until it ends carries their names."""
    form = OnBehalfOfForm()
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("mediated/start.html", form=form), status
    behalf = state.begin(
        g.user,
        form.cleaned(form.practitioner_name),
        form.cleaned(form.practitioner_organisation),
        form.cleaned(form.contact),
    )
    flash(f"You are now acting for {behalf.name} ({behalf.organisation}).", "success")
    return redirect(url_for("web.search"))


@blueprint.route("/mediated-access/end", methods=["POST"])
@requires(Permission.MEDIATED_ACCESS)
def end() -> Response:
    ended = state.end(g.user)
    if ended is not None:
        flash(f"You are no longer acting for {ended.name}.", "success")
    return redirect(url_for("mediated.start"))


@blueprint.route("/audit/mediated-access")
@requires(Permission.AUDIT_READ)
def audit() -> str:
    """Every event made on someone's behalf: who did it, for whom, what and when."""
    page = page_asked()
    events, total = operations.events_on_behalf(page, PER_PAGE)
    return render_template(
        "mediated/audit.html", events=events, total=total, page=page, pages=page_count(total, PER_PAGE)
    )
