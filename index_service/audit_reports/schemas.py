"""Auditors' report filters (*Args) and the report output (*Schema), for the pages and the API."""

from __future__ import annotations

from datetime import date
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, validate, validates_schema

from index_service.audit_reports.reports import Filters
from index_service.schema_base import StrippedSchema

# Days a report may name: the reports count days before and after them (a chart's year, the day after the
# last), which must be dates too. No audit event is older than the first.
EARLIEST_DAY = date(1900, 1, 1)
LATEST_DAY = date(9999, 12, 30)
_DAYS = validate.Range(
    min=EARLIEST_DAY, max=LATEST_DAY, error=f"Give a day from {EARLIEST_DAY.isoformat()} to {LATEST_DAY.isoformat()}."
)


class ReportArgs(StrippedSchema):
    """A date range of whole days (UTC), both ends included, and a page."""

    class Meta:
        unknown = EXCLUDE

    date_from = fields.Date(
        data_key="from", load_default=None, validate=_DAYS, metadata={"description": "First day, YYYY-MM-DD"}
    )
    date_to = fields.Date(
        data_key="to", load_default=None, validate=_DAYS, metadata={"description": "Last day, YYYY-MM-DD"}
    )
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))

    @validates_schema
    def _in_order(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise ValidationError("The first day must not be after the last day.", "from")

    @post_load
    def _filters(self, data: dict[str, Any], **_kwargs: Any) -> Filters:
        return Filters(data["date_from"], data["date_to"], data["page"])


class EventSchema(Schema):
    id = fields.Integer()
    position = fields.Integer(metadata={"description": "The event's place in the hash chain"})
    occurred_at = fields.DateTime()
    tag = fields.String()
    outcome = fields.String()
    user_id = fields.Integer(allow_none=True)
    user_name = fields.String(allow_none=True)
    user_email = fields.String(allow_none=True)
    organisation_id = fields.Integer(allow_none=True)
    organisation = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    target_ids = fields.List(fields.String())
    client_address = fields.String(allow_none=True)
    user_agent = fields.String(allow_none=True)
    details = fields.Dict()
    actor_roles = fields.String(
        allow_none=True,
        metadata={
            "description": "The actor's roles when the event happened, comma-separated (none before they were recorded)"
        },
    )


class EventPageSchema(Schema):
    report = fields.String()
    total = fields.Integer()
    page = fields.Integer()
    pages = fields.Integer()
    events = fields.List(fields.Nested(EventSchema), attribute="lines")


class FindingSchema(Schema):
    kind = fields.String()
    user_id = fields.Integer(allow_none=True)
    user_name = fields.String(allow_none=True)
    organisation = fields.String(allow_none=True)
    when = fields.Function(lambda finding: finding.when.isoformat())
    detail = fields.String()
    event_ids = fields.List(fields.Integer())


class UnusualSchema(Schema):
    date_from = fields.DateTime(allow_none=True)
    findings = fields.Dict(keys=fields.String(), values=fields.List(fields.Nested(FindingSchema)))
