"""/api/v1/audit: the auditors' reports as JSON, for auditors only; every call is itself audited."""

from __future__ import annotations

from typing import Any

from flask import current_app
from werkzeug.exceptions import NotFound

from accreditation.permissions import Permission
from index_service.audit_reports import operations, reports
from index_service.audit_reports.blueprint import index_id_from
from index_service.audit_reports.schemas import EventPageSchema, ReportArgs, UnusualSchema
from index_service.auth.models import User
from index_service.extensions import db
from index_service.guards import requires
from index_service.organisation_models import Organisation
from index_service.request_input import ApiBlueprint

blueprint = ApiBlueprint(
    "audit_api", __name__, url_prefix="/api/v1/audit", description="Auditors' reports over the audit trail"
)


def _page(report: str, query: Any, filters: reports.Filters) -> dict[str, Any]:
    page = reports.page_of(query, filters)
    return {"report": report, "total": page.total, "page": page.page, "pages": page.pages, "lines": page.lines}


@blueprint.route("/children/<index_id>", methods=["GET"])
@blueprint.arguments(ReportArgs, location="query", as_kwargs=False)
@blueprint.response(200, EventPageSchema)
@requires(Permission.AUDIT_READ)
def by_child(filters: reports.Filters, index_id: str) -> dict[str, Any]:
    """Every event naming the child: views, search hits, changes, overrides; with who, where and why."""
    parsed = index_id_from(index_id)
    operations.report_run("child", filters, "api", {"index_id": parsed}, (parsed,))
    return _page("child", reports.child_query(parsed, filters), filters)


@blueprint.route("/users/<int:user_id>", methods=["GET"])
@blueprint.arguments(ReportArgs, location="query", as_kwargs=False)
@blueprint.response(200, EventPageSchema)
@requires(Permission.AUDIT_READ)
def by_user(filters: reports.Filters, user_id: int) -> dict[str, Any]:
    """Everything one user did."""
    if db.session.get(User, user_id) is None:
        raise NotFound("No user has that number.")
    operations.report_run("user", filters, "api", {"user_id": user_id})
    return _page("user", reports.user_query(user_id, filters), filters)


@blueprint.route("/organisations/<int:organisation_id>", methods=["GET"])
@blueprint.arguments(ReportArgs, location="query", as_kwargs=False)
@blueprint.response(200, EventPageSchema)
@requires(Permission.AUDIT_READ)
def by_organisation(filters: reports.Filters, organisation_id: int) -> dict[str, Any]:
    """Everything one organisation's people and systems did."""
    if db.session.get(Organisation, organisation_id) is None:
        raise NotFound("No organisation has that number.")
    operations.report_run("organisation", filters, "api", {"organisation_id": organisation_id})
    return _page("organisation", reports.organisation_query(organisation_id, filters), filters)


@blueprint.route("/sign-in-failures", methods=["GET"])
@blueprint.arguments(ReportArgs, location="query", as_kwargs=False)
@blueprint.response(200, EventPageSchema)
@requires(Permission.AUDIT_READ)
def sign_in_failures(filters: reports.Filters) -> dict[str, Any]:
    """Failed sign-ins, refused re-entered codes and refused source system credentials."""
    operations.report_run("sign-in-failures", filters, "api")
    return _page("sign-in-failures", reports.sign_in_failure_query(filters), filters)


@blueprint.route("/unusual", methods=["GET"])
@blueprint.arguments(ReportArgs, location="query", as_kwargs=False)
@blueprint.response(200, UnusualSchema)
@requires(Permission.AUDIT_READ)
def unusual(filters: reports.Filters) -> reports.Unusual:
    """Unusual use: volume against the person's own norm, their organisation's and a ceiling; shielded records;
    out of hours; own surname."""
    operations.report_run("unusual", filters, "api")
    return reports.unusual_use(
        filters, current_app.config["WORKING_HOURS"], current_app.config["UNUSUAL_LOOKUPS_PER_DAY"]
    )
