"""Auditors' pages: reports with filters, pages and CSV, charts, and the subject access pack."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Blueprint, current_app, render_template, request
from marshmallow import ValidationError
from sqlalchemy import Select
from werkzeug.exceptions import BadRequest, NotFound
from werkzeug.wrappers import Response

from accreditation.permissions import Permission
from index_service.audit_reports import operations, reports, subject_access
from index_service.audit_reports.charts import bar_chart
from index_service.audit_reports.schemas import ReportArgs
from index_service.extensions import db
from index_service.guards import requires
from index_service.index_ids import IndexIdError, format_index_id, parse_index_id
from index_service.organisation_models import Organisation

blueprint = Blueprint("audit", __name__, url_prefix="/audit")
FILTER_LABELS = {"from": "From", "to": "To", "page": "Page"}


def filters_from_query() -> reports.Filters:
    try:
        return ReportArgs().load(request.args.to_dict())
    except ValidationError as error:
        messages = error.normalized_messages()
        raise BadRequest(
            " ".join(f"{FILTER_LABELS.get(name, name)}: {' '.join(text)}" for name, text in messages.items())
            + " Dates are YYYY-MM-DD."
        ) from error


def index_id_from(text: str) -> str:
    try:
        return parse_index_id(text)
    except IndexIdError as error:
        raise BadRequest(str(error)) from error


def _csv(name: str, query: Select[Any]) -> Response:
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def lines() -> Iterator[str]:
        # The body streams after the request has committed its audit event: read in a context of its own.
        with app.app_context():
            yield from operations.report_csv(query)

    return Response(
        lines(), mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="audit-{name}.csv"'}
    )


def _event_report(
    name: str,
    title: str,
    query: Select[Any],
    filters: reports.Filters,
    args: dict[str, Any],
    subject: dict[str, Any],
    target_ids: tuple[str, ...] = (),
    **context: Any,
) -> str | Response:
    """One list of events: the page, or with format=csv every event as CSV; either way audited."""
    if request.args.get("format") == "csv":
        operations.report_export(name, filters, subject, target_ids)
        return _csv(name, query)
    operations.report_run(name, filters, "web", subject, target_ids)
    return render_template(
        "audit/report.html",
        title=title,
        page=reports.page_of(query, filters),
        filters=filters,
        endpoint=request.endpoint,
        args=args,
        **context,
    )


def _range_args(filters: reports.Filters) -> dict[str, str]:
    return {key: value for key, value in (("from", filters.date_from), ("to", filters.date_to)) if value}


@blueprint.route("")
@requires(Permission.AUDIT_READ)
def index() -> str:
    """The auditors' start page: every report, and activity by organisation over the last 30 days."""
    filters = filters_from_query()
    by_organisation = reports.activity_by_organisation(filters)
    operations.report_run("overview", filters, "web")
    chart = bar_chart(
        "activity-by-organisation",
        "Searches and views by organisation",
        by_organisation[:20],
        "Bars for each organisation's searches and views; the table below gives the same figures.",
    )
    return render_template("audit/index.html", by_organisation=by_organisation, chart=chart, filters=filters)


@blueprint.route("/children")
@requires(Permission.AUDIT_READ)
def by_child() -> str | Response:
    """Who looked at this child, found them in a search, or changed them, and why."""
    filters = filters_from_query()
    typed = request.args.get("index_id", "").strip()
    if not typed:
        return render_template(
            "audit/report.html",
            title="Activity on a child's record",
            page=None,
            filters=filters,
            endpoint=request.endpoint,
            args={},
            ask="index_id",
        )
    index_id = index_id_from(typed)
    return _event_report(
        "child",
        f"Activity on the record {format_index_id(index_id)}",
        reports.child_query(index_id, filters),
        filters,
        {"index_id": index_id, **_range_args(filters)},
        {"index_id": index_id},
        (index_id,),
        ask="index_id",
        index_id=index_id,
    )


@blueprint.route("/users")
@requires(Permission.AUDIT_READ)
def by_user() -> str | Response:
    """What one user did."""
    filters = filters_from_query()
    email = request.args.get("email", "").strip()
    if not email:
        return render_template(
            "audit/report.html",
            title="A user's activity",
            page=None,
            filters=filters,
            endpoint=request.endpoint,
            args={},
            ask="email",
        )
    user = reports.user_by_email(email)
    if user is None:
        raise NotFound("No user has that email address.")
    return _event_report(
        "user",
        f"Activity of {user.display_name} ({user.email})",
        reports.user_query(user.id, filters),
        filters,
        {"email": user.email, **_range_args(filters)},
        {"user_id": user.id},
        ask="email",
        email=user.email,
    )


@blueprint.route("/organisations")
@requires(Permission.AUDIT_READ)
def by_organisation() -> str | Response:
    """What one organisation's people and systems did, with their searches and views by day."""
    filters = filters_from_query()
    chosen = request.args.get("organisation", "").strip()
    choices = reports.organisations()
    if not chosen:
        return render_template(
            "audit/report.html",
            title="An organisation's activity",
            page=None,
            filters=filters,
            endpoint=request.endpoint,
            args={},
            ask="organisation",
            choices=choices,
        )
    organisation = db.session.get(Organisation, int(chosen)) if chosen.isdigit() else None
    if organisation is None:
        raise NotFound("No organisation has that number.")
    days = reports.activity_by_day(filters, organisation.id)
    chart = bar_chart(
        "activity-by-day",
        f"Searches and views a day by {organisation.name}",
        [(day.strftime("%d %b"), count) for day, count in days],
        "Bars for each day's searches and views; the table below gives the same figures.",
    )
    return _event_report(
        "organisation",
        f"Activity of {organisation.name}",
        reports.organisation_query(organisation.id, filters),
        filters,
        {"organisation": organisation.id, **_range_args(filters)},
        {"organisation_id": organisation.id},
        ask="organisation",
        choices=choices,
        chosen=organisation.id,
        chart=chart,
        days=days,
    )


@blueprint.route("/sign-in-failures")
@requires(Permission.AUDIT_READ)
def sign_in_failures() -> str | Response:
    """Failed sign-ins and re-entered codes, and refused source system credentials, with why."""
    filters = filters_from_query()
    return _event_report(
        "sign-in-failures", "Failed sign-ins", reports.sign_in_failure_query(filters), filters, _range_args(filters), {}
    )


@blueprint.route("/unusual")
@requires(Permission.AUDIT_READ)
def unusual() -> str:
    """Who is using the index unusually: volume, shielded records, hours, their own surname."""
    filters = filters_from_query()
    found = reports.unusual_use(
        filters, current_app.config["WORKING_HOURS"], current_app.config["UNUSUAL_LOOKUPS_PER_DAY"]
    )
    operations.report_run("unusual", filters, "web")
    return render_template(
        "audit/unusual.html",
        found=found,
        kinds=reports.UNUSUAL_KINDS,
        filters=filters,
        working_hours=current_app.config["WORKING_HOURS"],
        ceiling=current_app.config["UNUSUAL_LOOKUPS_PER_DAY"],
        reports=reports,
    )


@blueprint.route("/children/<index_id>/subject-access")
@requires(Permission.AUDIT_READ)
def subject_access_page(index_id: str) -> str:
    """The subject access pack as a printable page."""
    pack = _pack(index_id, "html")
    return render_template("audit/subject_access.html", pack=pack, withheld=subject_access.WITHHELD)


@blueprint.route("/children/<index_id>/subject-access.pdf")
@requires(Permission.AUDIT_READ)
def subject_access_pdf(index_id: str) -> Response:
    """The same pack as a PDF."""
    pack = _pack(index_id, "pdf")
    return Response(
        subject_access.pdf(pack),
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="subject-access-{pack.index_id}.pdf"'},
    )


def _pack(typed: str, form: str) -> subject_access.Pack:
    pack = subject_access.build(index_id_from(typed), names=current_app.config["SUBJECT_ACCESS_SHOWS_NAMES"])
    if pack is None:
        raise NotFound("No child has that index ID.")
    subject_access.record_pack(pack, form)
    return pack
