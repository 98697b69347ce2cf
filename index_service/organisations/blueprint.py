"""The index team's accreditation pages (organisations, their evidence against the criteria,
accreditation and suspension, the criteria themselves) and a line manager's report on their staff.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from accreditation.permissions import Permission
from index_service.auth.models import User
from index_service.auth.reauth import code_needed, confirm_if_stale
from index_service.database import utc_today
from index_service.extensions import db
from index_service.form_fields import parsed
from index_service.guards import requires
from index_service.organisation_models import OrganisationType
from index_service.organisations import operations
from index_service.organisations.forms import (
    TYPE_LABELS,
    AccreditForm,
    CriterionChangeForm,
    CriterionForm,
    EvidenceForm,
    OrganisationForm,
    SuspendForm,
    UsageForm,
)
from index_service.paging import page_asked

blueprint = Blueprint("organisations", __name__)

Page = str | Response | tuple[str, int]
PER_PAGE = 25
DEFAULT_REPORT_DAYS = 28


@blueprint.app_context_processor
def _navigation() -> dict[str, Any]:
    user = g.get("user")
    manages = bool(user) and db.session.scalar(select(User.id).where(User.line_manager_id == user.id).limit(1))
    return {"manages_staff": bool(manages), "organisation_types": TYPE_LABELS}


@blueprint.route("/organisations")
@requires(Permission.ACCREDITATION_MANAGE)
def organisations() -> str:
    page = page_asked()
    rows, page, pages = operations.organisations_page(page, PER_PAGE)
    return render_template("organisations/list.html", organisations=rows, page=page, pages=pages, today=utc_today())


@blueprint.route("/organisations/new", methods=["GET", "POST"])
@requires(Permission.ACCREDITATION_MANAGE)
def create() -> Page:
    form = OrganisationForm()
    if not form.validate_on_submit():
        return render_template("organisations/new.html", form=form), (400 if request.method == "POST" else 200)
    try:
        created = operations.create_organisation(form.name.data, OrganisationType(form.type.data), form.phone.data)
    except operations.AccreditationRefused as refusal:
        form.name.errors = [str(refusal)]
        return render_template("organisations/new.html", form=form), 400
    flash(f"{created.name} is added. Record its evidence against the criteria to accredit it.", "success")
    return redirect(url_for("organisations.organisation", organisation_id=created.id))


def _organisation_page(organisation_id: int, status: int = 200, **forms: Any) -> tuple[str, int]:
    organisation = operations.organisation(organisation_id)
    return render_template(
        "organisations/organisation.html",
        organisation=organisation,
        criteria=operations.criteria(),
        evidence=operations.evidence_of(organisation),
        unmet=operations.unmet(organisation),
        today=utc_today(),
        evidence_form=forms.get("evidence_form") or EvidenceForm(),
        accredit_form=forms.get("accredit_form") or AccreditForm(),
        suspend_form=forms.get("suspend_form") or SuspendForm(),
        code_needed=code_needed(),
        refusal=forms.get("refusal"),
    ), status


@blueprint.route("/organisations/<int:organisation_id>")
@requires(Permission.ACCREDITATION_MANAGE)
def organisation(organisation_id: int) -> Page:
    return _organisation_page(organisation_id)


@blueprint.route("/organisations/<int:organisation_id>/evidence", methods=["POST"])
@requires(Permission.ACCREDITATION_MANAGE)
def evidence(organisation_id: int) -> Page:
    found = operations.organisation(organisation_id)
    form = EvidenceForm()
    if not form.validate_on_submit():
        return _organisation_page(organisation_id, 400, evidence_form=form)
    met_on = parsed(form.met_on)
    assert met_on is not None
    try:
        row = operations.record_evidence(g.user, found, form.criterion_id.data, form.evidence.data, met_on)
    except operations.AccreditationRefused as refusal:
        form.criterion_id.errors = [str(refusal)]
        return _organisation_page(organisation_id, 400, evidence_form=form)
    flash(f"Recorded: {row.criterion.title}", "success")
    return redirect(url_for("organisations.organisation", organisation_id=organisation_id) + "#criteria")


@blueprint.route("/organisations/<int:organisation_id>/accredit", methods=["POST"])
@requires(Permission.ACCREDITATION_MANAGE)
def accredit(organisation_id: int) -> Page:
    found = operations.organisation(organisation_id)
    form = AccreditForm()
    if not form.validate_on_submit():
        return _organisation_page(organisation_id, 400, accredit_form=form)
    refused = confirm_if_stale(g.user, form.code.data, "accredit")
    if refused:
        form.code.errors = [refused.message]
        return _organisation_page(organisation_id, refused.status, accredit_form=form)
    until = parsed(form.until)
    assert until is not None
    try:
        operations.accredit_organisation(found, until, utc_today())
    except operations.AccreditationRefused as refusal:
        form.until.errors = [str(refusal)]
        return _organisation_page(organisation_id, 409, accredit_form=form)
    flash(f"{found.name} is accredited until {until.strftime('%d/%m/%Y')}", "success")
    return redirect(url_for("organisations.organisation", organisation_id=organisation_id))


@blueprint.route("/organisations/<int:organisation_id>/suspend", methods=["POST"])
@requires(Permission.ACCREDITATION_MANAGE)
def suspend(organisation_id: int) -> Page:
    found = operations.organisation(organisation_id)
    form = SuspendForm()
    if not form.validate_on_submit():
        return _organisation_page(organisation_id, 400, suspend_form=form)
    refused = confirm_if_stale(g.user, form.code.data, "suspend organisation")
    if refused:
        form.code.errors = [refused.message]
        return _organisation_page(organisation_id, refused.status, suspend_form=form)
    if found.id == g.user.organisation_id:
        form.reason.errors = ["You cannot suspend your own organisation"]
        return _organisation_page(organisation_id, 409, suspend_form=form)
    operations.suspend_organisation(found, form.reason.data.strip())
    flash(f"{found.name}'s accreditation is suspended: its staff lose access at once", "success")
    return redirect(url_for("organisations.organisation", organisation_id=organisation_id))


@blueprint.route("/accreditation/criteria", methods=["GET", "POST"])
@requires(Permission.ACCREDITATION_MANAGE)
def criteria() -> Page:
    form = CriterionForm()
    status = 200
    if form.validate_on_submit():
        try:
            added = operations.add_criterion(form.code.data, form.title.data, form.mandatory.data)
        except operations.AccreditationRefused as refusal:
            form.code.errors = [str(refusal)]
            status = 400
        else:
            flash(f"Added the criterion: {added.title}", "success")
            return redirect(url_for("organisations.criteria"))
    elif request.method == "POST":
        status = 400
    return render_template("organisations/criteria.html", form=form, criteria=operations.criteria(True)), status


@blueprint.route("/accreditation/criteria/<int:criterion_id>", methods=["POST"])
@requires(Permission.ACCREDITATION_MANAGE)
def change_criterion(criterion_id: int) -> Response:
    form = CriterionChangeForm()
    if form.validate_on_submit():
        changed = operations.change_criterion(criterion_id, form.mandatory.data, form.retired.data)
        flash(f"Changed the criterion: {changed.title}", "success")
    else:
        flash("The form was not sent correctly. Try again.", "info")
    return redirect(url_for("organisations.criteria"))


@blueprint.route("/my-staff")
@requires(Permission.SIGNED_IN)
def staff_usage() -> Page:
    """How the signed-in person's own staff used the index, per person and day (from the audit trail)."""
    form = UsageForm(request.args)
    today = utc_today()
    valid = form.validate() if request.args else True
    last = (parsed(form.end) if valid else None) or today
    first = (parsed(form.start) if valid else None) or last - timedelta(days=DEFAULT_REPORT_DAYS - 1)
    status = 200 if valid else 400
    if first > last or last - first > operations.LONGEST_REPORT:
        form.start.errors = [
            f"Choose a start no later than the end, and at most {operations.LONGEST_REPORT.days} days before it"
        ]
        first, last, status = last - timedelta(days=DEFAULT_REPORT_DAYS - 1), last, 400
    staff, usage = operations.staff_usage(g.user, first, last)
    people = {person.id: person for person in staff}
    return render_template(
        "organisations/usage.html", form=form, first=first, last=last, usage=usage, people=people
    ), status
