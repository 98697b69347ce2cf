"""/api/v1 for source systems: submit an extract, follow its load, fetch its report.

Every endpoint needs a bearer token with the scope loads:write (see index_service/oauth), and
a client reaches only its own data source and that source's loads. The extract is the request
body itself, streamed to disk, its header checked at once (so a file that cannot load is refused
here, not later in the background), then queued and run by a process of its own once this
request has committed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import current_app, g, request, stream_with_context
from werkzeug.exceptions import (
    BadRequest,
    NotFound,
    RequestEntityTooLarge,
    UnprocessableEntity,
    UnsupportedMediaType,
)
from werkzeug.wrappers import Response

from index_service.audit.events import record_event
from index_service.audit.models import AuditTag
from index_service.extensions import db
from index_service.guards import refuse_client, requires_scope
from index_service.load_models import Load
from index_service.oauth.operations import client_details
from index_service.oauth.server import SECURITY_SCHEME
from index_service.request_input import ApiBlueprint
from index_service.scopes import Scope
from index_service.sources import jobs, uploads
from index_service.sources.extract import ExtractError, format_for
from index_service.sources.loading.run import begin_load
from index_service.sources.report import REPORT_COLUMNS, report_csv
from index_service.sources.schemas import LoadAcceptedSchema, LoadArgs, LoadStatusSchema, report_url, status_url

# Content types of an extract, and the format each announces.
CONTENT_TYPES = {"text/csv": "csv", "application/x-ndjson": "jsonl", "application/jsonl": "jsonl"}
LOADS_WRITE = [{SECURITY_SCHEME: [Scope.LOADS_WRITE.value]}]
# A client reaches only its own source and its loads: anything else is "not found", whether it
# exists or not, so that no client learns which other sources and loads there are.
NO_SOURCE = "No data source of your client has that id."
NO_LOAD = "No load has that id."

blueprint = ApiBlueprint(
    "sources_api",
    __name__,
    url_prefix="/api/v1",
    description="Source systems submit extracts and follow their loads (OAuth2 client credentials)",
)
blueprint.teardown_request(uploads.discard_unkept)  # an upload no committed load keeps is deleted


def _client_source_id() -> int:
    return int(g.oauth_client.source_id)


def _own_load(load_id: int) -> Load:
    """The client's own load; another source's is "not found", word for word as a missing one."""
    load = db.session.get(Load, load_id)
    if load is None:
        raise NotFound(NO_LOAD)
    if load.source_id != _client_source_id():
        refuse_client(NO_LOAD, "another source's load", answer=NotFound, load_id=load_id)
    return load


def _file_name(given: str | None, fmt: str) -> str:
    """The name the report shows: the one given (directories dropped), which must agree with the content type."""
    name = (given or "").replace("\\", "/").rsplit("/", 1)[-1].strip() or f"extract.{fmt}"
    try:
        named = format_for(name)
    except ExtractError as error:
        raise UnprocessableEntity(str(error)) from error
    if named != fmt:
        raise UnprocessableEntity(
            f"file_name {name!r} names a {named} file, but the Content-Type is {request.mimetype}"
        )
    return name


def _store_body(file_name: str) -> Path:
    """The request body, streamed to the upload folder under the larger upload limit."""
    request.max_content_length = current_app.config["UPLOAD_MAX_BYTES"]
    # With neither a length nor chunked encoding (which the server marks as input_terminated) there is no body.
    if not request.content_length and not request.environ.get("wsgi.input_terminated"):
        raise BadRequest("The body is empty: send the extract itself as the body.")
    try:
        stored = uploads.store(
            request.stream, file_name, g.oauth_client.source.organisation_id, expected=request.content_length
        )
    except uploads.QuotaExceeded as error:
        raise RequestEntityTooLarge(str(error)) from error
    if stored.stat().st_size == 0:
        raise BadRequest("The body is empty: send the extract itself as the body.")
    return stored


@blueprint.route("/sources/<int:source_id>/loads", methods=["POST"])
@blueprint.arguments(LoadArgs, location="query")
@blueprint.response(202, LoadAcceptedSchema)
@blueprint.alt_response(400, description="The body is empty")
@blueprint.alt_response(401, description="No access token, or one that is not valid, has expired or was revoked")
@blueprint.alt_response(403, description="The token lacks the scope loads:write")
@blueprint.alt_response(404, description="The client has no data source with that id")
@blueprint.alt_response(
    413,
    description="The extract is larger than the upload limit, or would take the "
    "organisation's stored extracts past their quota; the message says which",
)
@blueprint.alt_response(415, description="The Content-Type is not text/csv or application/x-ndjson")
@blueprint.alt_response(
    422,
    description="A bad parameter, or a file that cannot be loaded (such as a header "
    "lacking a required column); the message says which",
)
@blueprint.doc(
    security=LOADS_WRITE,
    requestBody={
        "required": True,
        "description": "The extract: a CSV file with a header row, or JSON lines",
        "content": {content_type: {"schema": {"type": "string", "format": "binary"}} for content_type in CONTENT_TYPES},
    },
)
@requires_scope(Scope.LOADS_WRITE)
def submit_load(args: dict[str, Any], source_id: int) -> dict[str, Any]:
    """Submit an extract for your data source; it loads in the background (follow status_url)."""
    client = g.oauth_client
    if source_id != _client_source_id():
        refuse_client(NO_SOURCE, "another source", answer=NotFound, source_id=source_id)
    fmt = CONTENT_TYPES.get(request.mimetype)
    if fmt is None:
        raise UnsupportedMediaType(
            "Send the extract itself as the body, with Content-Type text/csv or application/x-ndjson."
        )
    file_name = _file_name(args["file_name"], fmt)
    stored = _store_body(file_name)
    try:
        jobs.check_header(stored, fmt)
        load = begin_load(client.source, stored, args["kind"], dry_run=args["dry_run"], file_name=file_name)
    except ExtractError as error:
        raise UnprocessableEntity(str(error)) from error
    # A repeat's copy is deleted at the end of the request: the unfinished load of the same file carries on.
    repeat = uploads.adopt(load, stored)
    jobs.start_after_commit(load, repeat=repeat)
    record_event(
        AuditTag.LOAD_SUBMIT,
        details={
            **client_details(client),
            "load_id": load.id,
            "file_name": load.file_name,
            "file_sha256": load.file_sha256,
            "kind": load.kind.value,
            "dry_run": load.is_dry_run,
            "repeat": repeat,
        },
        organisation_id=client.source.organisation_id,
    )
    return {
        "load_id": load.id,
        "status": load.status,
        "status_url": status_url(load),
        "report_url": report_url(load),
        "repeat": repeat,
    }


@blueprint.route("/loads/<int:load_id>", methods=["GET"])
@blueprint.response(200, LoadStatusSchema)
@blueprint.alt_response(404, description="No load has that id")
@blueprint.doc(security=LOADS_WRITE)
@requires_scope(Scope.LOADS_WRITE)
def load_status(load_id: int) -> Load:
    """How far a load of your data source has got, and what became of its rows so far."""
    return _own_load(load_id)


@blueprint.route("/loads/<int:load_id>/report", methods=["GET"])
@blueprint.alt_response(
    200, description="One CSV line per row of the extract: " + ", ".join(REPORT_COLUMNS), content_type="text/csv"
)
@blueprint.alt_response(404, description="No load has that id")
@blueprint.doc(security=LOADS_WRITE)
@requires_scope(Scope.LOADS_WRITE)
def load_report(load_id: int) -> Response:
    """The load's report so far, as CSV: one line per row of the extract, in row order."""
    load = _own_load(load_id)
    record_event(
        AuditTag.LOAD_REPORT_VIEW,
        details={**client_details(g.oauth_client), "load_id": load.id},
        organisation_id=g.oauth_client.source.organisation_id,
    )
    return Response(
        stream_with_context(report_csv(load.id)),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="load-{load.id}-report.csv"',
            "X-Load-Status": load.status.value,
        },
    )
