"""API input (*Args) and output (*Schema) for the loads that source systems submit."""

from __future__ import annotations

from flask import url_for
from marshmallow import Schema, fields, validate

from index_service.load_models import Load, LoadKind, LoadStatus
from index_service.schema_base import StrippedSchema
from index_service.sources.uploads import kept_until


class LoadArgs(StrippedSchema):
    """Query parameters of POST /api/v1/sources/<id>/loads; the extract itself is the body."""

    kind = fields.Enum(
        LoadKind,
        by_value=True,
        load_default=LoadKind.DELTA,
        metadata={"description": "full: the source's whole caseload; delta: additions and updates"},
    )
    dry_run = fields.Boolean(
        load_default=False, metadata={"description": "Check the file and predict the outcome, changing nothing"}
    )
    file_name = fields.String(
        validate=validate.Length(max=255),
        load_default=None,
        metadata={"description": "The extract's name, for the report (.csv or .jsonl)"},
    )


def status_url(load: Load) -> str:
    return url_for("sources_api.load_status", load_id=load.id)


def report_url(load: Load) -> str:
    return url_for("sources_api.load_report", load_id=load.id)


def file_kept_until(load: Load) -> str | None:
    until = kept_until(load)
    return until.isoformat() if until else None


class LoadAcceptedSchema(Schema):
    load_id = fields.Integer()
    status = fields.Enum(LoadStatus, by_value=True)
    status_url = fields.String()
    report_url = fields.String()
    repeat = fields.Boolean(metadata={"description": "The same file was already loading: this is that load"})


class LoadStatusSchema(Schema):
    load_id = fields.Integer(attribute="id")
    source_id = fields.Integer()
    file_name = fields.String()
    kind = fields.Enum(LoadKind, by_value=True)
    dry_run = fields.Boolean(attribute="is_dry_run")
    status = fields.Enum(LoadStatus, by_value=True)
    rows_expected = fields.Integer(allow_none=True)
    rows_done = fields.Integer()
    counts = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={
            "description": "Rows by outcome: linked, created, updated, unchanged, shielded "
            "(applied to a shielded record), review, rejected"
        },
    )
    summary = fields.Dict(metadata={"description": "Rejections by field, missing fields, ignored columns..."})
    error = fields.String(allow_none=True)
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    report_url = fields.Function(report_url)
    file_kept_until = fields.Function(
        file_kept_until,
        allow_none=True,
        metadata={
            "description": "When the stored extract is deleted unless the load runs again (after a "
            "failure, to resume; after a dry run, to load it for real); null otherwise"
        },
    )
