"""The data administrator's pages: sources, uploads and their progress, load reports, review, merges.

Everything here is scoped to the signed-in user's own organisation: another organisation's
source, load, report or review item is "not found" (404), never shown and never acted on.
Handlers parse the request, call the services (sources.operations, registry, review, report,
children.merges), turn their errors into a form error, a flash message or a 4xx, and render; they
query nothing themselves. They do not commit: the request's one commit happens in
`_finish_request`, and a load is handed to its background process only after that commit
(jobs.start_after_commit, through operations.submit).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.exceptions import RequestEntityTooLarge

from accreditation.permissions import Permission
from index_service.children import merges
from index_service.children.lookup import surviving
from index_service.children.merges import Merge
from index_service.children.models import Child, Service
from index_service.children.present import viewer_for, visible_record
from index_service.database import utcnow
from index_service.extensions import csrf
from index_service.guards import requires
from index_service.load_models import (
    Load,
    LoadKind,
    LoadStatus,
    ReviewItem,
    RowOutcome,
)
from index_service.paging import page_asked, page_count
from index_service.sources import operations, registry, review, uploads
from index_service.sources.extract import ExtractError, format_for
from index_service.sources.forms import (
    LOAD_KIND_HINTS,
    ConfirmMergeForm,
    LinkForm,
    MergeForm,
    RegisterSourceForm,
    ReportFilterForm,
    UploadForm,
)
from index_service.sources.models import DataSource, SourceKind
from index_service.sources.report import OUTCOME_ORDER, outcome_label, report_csv, report_page
from index_service.sources.uploads import size_text
from shielding.redaction import INDEX_TEAM_CONTACT, redact_comparison

blueprint = Blueprint("sources", __name__, url_prefix="/data")
blueprint.teardown_request(uploads.discard_unkept)  # an upload no committed load keeps is deleted

REPORT_PAGE_SIZE = 50
QUEUE_PAGE_SIZE = 20
RECENT_MERGES = 20
RECENT_LOADS = 10
SOURCE_LOADS = 20
REFRESH_SECONDS = 3
Model = TypeVar("Model")


# Loading objects: by id, and only the user's organisation's.


def _id(raw_id: str) -> int:
    """The id in a URL (a string there, so a malformed one is just "not found")."""
    if not raw_id.isdigit() or len(raw_id) > 18:
        abort(404)
    return int(raw_id)


def _found(found: Model | None) -> Model:
    if found is None:
        abort(404)
    return found


def _own(source: DataSource) -> DataSource:
    if not review.may_manage(g.user, source):
        abort(404)  # never confirm that another organisation's source exists
    return source


def _own_source(source_id: str) -> DataSource:
    return _own(_found(registry.source_by_id(_id(source_id))))


def _own_load(load_id: str) -> Load:
    load = _found(operations.load_by_id(_id(load_id)))
    _own(load.source)
    return load


def _own_item(item_id: str) -> ReviewItem:
    item = _found(review.item_by_id(_id(item_id)))
    _own(item.source)
    if not review.may_see(g.user, item):
        abort(404)  # an item about a shielded record, for those who may see it
    return item


def _own_merge(merge_id: str) -> Merge:
    """A merge of a record the user's organisation supplied (the only ones it may undo), or 404."""
    found = _found(merges.merge_by_id(_id(merge_id)))
    if not merges.supplied_by_organisation(found.surviving, g.user.organisation_id):
        abort(404)
    return found


# Dashboard and sources.


@blueprint.route("")
@requires(Permission.SOURCE_MANAGE)
def dashboard() -> str:
    sources = registry.organisation_sources(g.user.organisation_id)
    return render_template(
        "sources/dashboard.html",
        sources=sources,
        last_loads=operations.last_loads([s.id for s in sources]),
        counts=review.queue_counts(g.user),
        recent=operations.recent_loads(g.user.organisation_id, RECENT_LOADS),
    )


@blueprint.route("/sources")
@requires(Permission.SOURCE_MANAGE)
def source_list() -> str:
    sources = registry.organisation_sources(g.user.organisation_id)
    return render_template(
        "sources/sources.html", sources=sources, last_loads=operations.last_loads([s.id for s in sources])
    )


def _register_form() -> RegisterSourceForm:
    form = RegisterSourceForm()
    form.involvement_organisation.choices = [(o.id, o.name) for o in registry.organisations()]
    if request.method == "GET":
        form.involvement_organisation.data = g.user.organisation_id
    return form


@blueprint.route("/sources/new", methods=["GET", "POST"])
@requires(Permission.SOURCE_MANAGE)
def register() -> str | Response:
    form = _register_form()
    if form.validate_on_submit():
        involvement_organisation = registry.organisation_by_id(form.involvement_organisation.data)
        try:
            source = registry.register_source(
                form.name.data or "",
                g.user.organisation,
                SourceKind(form.kind.data),
                Service(form.service.data),
                involvement_organisation,
                form.involvement_role.data,
                user=g.user,
            )
        except registry.SourceError as error:
            form.name.errors = [*form.name.errors, str(error)]
        else:
            flash(f"Registered the data source {source.name}", "success")
            return redirect(url_for("sources.source", source_id=source.id))
    return render_template("sources/register.html", form=form)


@blueprint.route("/sources/<source_id>")
@requires(Permission.SOURCE_MANAGE)
def source(source_id: str) -> str:
    found = _own_source(source_id)
    return render_template("sources/source.html", source=found, loads=operations.source_loads(found, SOURCE_LOADS))


@blueprint.route("/sources/<source_id>/active", methods=["POST"])
@requires(Permission.SOURCE_MANAGE)
def set_active(source_id: str) -> Response:
    found = _own_source(source_id)
    active = request.form.get("active") == "1"
    registry.set_active(found, active, user=g.user)
    flash(f"{found.name} is now {'active' if active else 'inactive'}", "success")
    return redirect(url_for("sources.source", source_id=found.id))


# Uploads and loads.


@csrf.exempt  # checked in the view, once the larger upload limit is in place (see below)
@blueprint.route("/sources/<source_id>/loads/new", methods=["GET", "POST"])
@requires(Permission.LOAD_RUN)
def upload(source_id: str) -> tuple[str, int] | Response:
    found = _own_source(source_id)
    # Only this view accepts large bodies. The global CSRF check would parse the form under the
    # 1 MB limit before this line, so the view is exempt from it and checks the token itself.
    request.max_content_length = current_app.config["UPLOAD_MAX_BYTES"]
    if request.method == "POST":
        try:
            csrf.protect()
        except RequestEntityTooLarge as error:
            limit = current_app.config["UPLOAD_MAX_BYTES"]
            raise RequestEntityTooLarge(
                f"The file is too large: the limit is {size_text(limit)}. Split the extract into smaller files "
                "and load each one."
            ) from error
    form = UploadForm()
    status = 200
    if request.method == "POST" and not found.is_active:
        form.form_errors.append(f"{found.name} is not active: reactivate it before loading a file")
    elif form.validate_on_submit():
        upload_file = form.extract.data
        file_name = Path(upload_file.filename or "extract").name
        try:
            fmt = format_for(file_name)
            stored = operations.store_upload(found, upload_file.stream, file_name)
            submitted = operations.submit(
                found,
                stored,
                fmt,
                LoadKind(form.kind.data),
                file_name=file_name,
                dry_run=request.form.get("action") != "load",
                user=g.user,
            )
        except ExtractError as error:
            form.extract.errors = [*form.extract.errors, str(error)]
        except uploads.QuotaExceeded as error:
            form.extract.errors = [*form.extract.errors, str(error)]
            status = 413
        else:
            return redirect(url_for("sources.load", load_id=submitted.load.id))
    return render_template(
        "sources/upload.html",
        source=found,
        form=form,
        hints=LOAD_KIND_HINTS,
        limit=size_text(current_app.config["UPLOAD_MAX_BYTES"]),
    ), status


@dataclass(frozen=True)
class Progress:
    done: int
    expected: int
    percent: int
    rate: float | None
    seconds_left: float | None


def _progress(load: Load, now: datetime) -> Progress:
    expected = max(load.rows_expected or 0, load.rows_done)
    percent = int(100 * load.rows_done / expected) if expected else (100 if load.status is LoadStatus.COMPLETED else 0)
    rate = left = None
    if load.status is LoadStatus.RUNNING and load.started_at is not None:
        elapsed = (now - load.started_at).total_seconds()
        if elapsed > 0 and load.rows_done:
            rate = load.rows_done / elapsed
            left = (expected - load.rows_done) / rate
    return Progress(load.rows_done, expected, percent, rate, left)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return "less than a minute"
    hours, minutes = divmod(seconds // 60, 60)
    parts = ([f"{hours} hour{'s' if hours != 1 else ''}"] if hours else []) + (
        [f"{minutes} minute{'s' if minutes != 1 else ''}"] if minutes else []
    )
    return " ".join(parts)


@blueprint.route("/loads/<load_id>")
@requires(Permission.LOAD_RUN)
def load(load_id: str) -> str:
    found = _own_load(load_id)
    running = found.status in (LoadStatus.QUEUED, LoadStatus.RUNNING)
    refresh = running and request.args.get("refresh") != "off"
    counts = found.counts or {}
    outcomes = [(outcome, outcome_label(found, outcome), counts.get(outcome.value, 0)) for outcome in OUTCOME_ORDER]
    rows = sum(counts.values())
    rejected = counts.get(RowOutcome.REJECTED.value, 0)
    return render_template(
        "sources/load.html",
        load=found,
        progress=_progress(found, utcnow()),
        duration=_duration,
        refresh=REFRESH_SECONDS if refresh else None,
        running=running,
        outcomes=outcomes,
        rows=rows,
        rejected=rejected,
        summary=found.summary or {},
        kept_until=uploads.kept_until(found),
        file_missing=uploads.file_missing(found),
    )


@blueprint.route("/loads/<load_id>/load", methods=["POST"])
@requires(Permission.LOAD_RUN)
def load_for_real(load_id: str) -> Response:
    """The dry run looked right: load the same stored file for real."""
    found = _own_load(load_id)
    try:
        real = operations.load_for_real(found, g.user)
    except operations.LoadConflict as error:
        abort(409, str(error))
    except operations.FileGone as error:
        flash(str(error), "error")
        return redirect(url_for("sources.load", load_id=found.id))
    return redirect(url_for("sources.load", load_id=real.id))


@blueprint.route("/loads/<load_id>/resume", methods=["POST"])
@requires(Permission.LOAD_RUN)
def resume(load_id: str) -> Response:
    found = _own_load(load_id)
    try:
        operations.resume(found)
    except operations.LoadConflict as error:
        abort(409, str(error))
    except operations.FileGone as error:
        flash(str(error), "error")
    return redirect(url_for("sources.load", load_id=found.id))


@blueprint.route("/loads/<load_id>/report")
@requires(Permission.LOAD_RUN)
def load_report(load_id: str) -> str:
    found = _own_load(load_id)
    form = ReportFilterForm(request.args)
    outcome = RowOutcome(form.outcome.data) if form.validate() and form.outcome.data else None
    shown = report_page(found, outcome, page_asked(), REPORT_PAGE_SIZE)
    operations.record_report_view(found, user=g.user, form="page")
    return render_template(
        "sources/report.html",
        load=found,
        rows=shown.rows,
        quarantined=shown.quarantined,
        form=form,
        outcome=outcome,
        page=shown.page,
        pages=shown.pages,
        total=shown.total,
        label=outcome_label,
    )


@blueprint.route("/loads/<load_id>/report.csv")
@requires(Permission.LOAD_RUN)
def load_report_csv(load_id: str) -> Response:
    found = _own_load(load_id)
    operations.record_report_view(found, user=g.user, form="csv")
    loaded_id = found.id
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def lines() -> Iterator[str]:
        # The body streams after the request has ended (and committed its audit event): read the
        # rows in an application context, and a database session, of the generator's own.
        with app.app_context():
            yield from report_csv(loaded_id)

    name = f"load-{found.id}-report.csv"
    return Response(lines(), mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"'})


# The match-review queue.


@blueprint.route("/review")
@requires(Permission.REVIEW_DECIDE)
def review_queue() -> str:
    page = page_asked()
    items, total = review.queue(g.user, page, QUEUE_PAGE_SIZE)
    return render_template(
        "sources/queue.html",
        items=items,
        total=total,
        page=page,
        pages=page_count(total, QUEUE_PAGE_SIZE),
        counts=review.queue_counts(g.user),
        held=review.held_for_shielded_viewers(g.user),
        contact=INDEX_TEAM_CONTACT,
    )


def _render_item(item: ReviewItem, error: str | None = None) -> str:
    """The item with its candidates as this user may see them: a shielded one redacted, comparison too."""
    viewer = viewer_for(g.user)
    children = {child.index_id: visible_record(child, viewer) for child in review.candidate_records(item)}
    shown = [
        redact_comparison(candidate, bool(children.get(candidate["index_id"], {}).get("shielded_contact")))
        for candidate in item.candidates
    ]
    candidates = [candidate for candidate in shown if candidate is not None]
    return render_template(
        "sources/item.html",
        item=item,
        children=children,
        candidates=candidates,
        error=error,
        pending=item.status in review.PENDING,
        shielded_hidden=len(shown) - len(candidates),
        contact=INDEX_TEAM_CONTACT,
    )


@blueprint.route("/review/<item_id>")
@requires(Permission.REVIEW_DECIDE)
def review_item(item_id: str) -> str:
    return _render_item(_own_item(item_id))


def _decided(message: str) -> Response:
    flash(message, "success")
    return redirect(url_for("sources.review_queue"))


@blueprint.route("/review/<item_id>/link", methods=["POST"])
@requires(Permission.REVIEW_DECIDE)
def review_link(item_id: str) -> str | Response:
    item = _own_item(item_id)
    form = LinkForm()
    if not form.validate_on_submit():
        return _render_item(item, "Choose one of the candidates shown")
    try:
        child = review.link_item(item, form.index_id.data or "", g.user)
    except review.ReviewError as error:
        return _render_item(item, str(error))
    return _decided(
        f"Linked row {item.row_number} of load {item.load_id} to {child.given_name} "
        f"{child.family_name} ({child.index_id})"
    )


@blueprint.route("/review/<item_id>/create", methods=["POST"])
@requires(Permission.REVIEW_DECIDE)
def review_create(item_id: str) -> str | Response:
    item = _own_item(item_id)
    try:
        child = review.create_from_item(item, g.user)
    except review.ReviewError as error:
        return _render_item(item, str(error))
    return _decided(f"Created a new record for {child.given_name} {child.family_name} ({child.index_id})")


@blueprint.route("/review/<item_id>/defer", methods=["POST"])
@requires(Permission.REVIEW_DECIDE)
def review_defer(item_id: str) -> str | Response:
    item = _own_item(item_id)
    try:
        review.defer_item(item, g.user)
    except review.ReviewError as error:
        return _render_item(item, str(error))
    return _decided(
        f"Deferred row {item.row_number} of load {item.load_id}: it stays in the queue, after the open items"
    )


# Merging and unmerging.


def _render_merge(form: MergeForm, status: int = 200) -> tuple[str, int]:
    recent = merges.recent_merges(g.user.organisation_id, RECENT_MERGES)
    return render_template("sources/merge.html", form=form, merges=recent), status


def _pair(form: MergeForm | ConfirmMergeForm) -> tuple[Child, Child] | None:
    kept, retired = merges.record_by_index_id(form.kept.parsed), merges.record_by_index_id(form.retired.parsed)
    for field, child in ((form.kept, kept), (form.retired, retired)):
        if child is None or not merges.supplied_by_organisation(surviving(child), g.user.organisation_id):
            # Another organisation's record is not shown here, nor is its existence confirmed.
            field.errors = [
                *field.errors,
                f"No record that your organisation's data sources supplied has the index ID {field.data}",
            ]
        elif child.merged_into_id is not None:
            field.errors = [*field.errors, f"{field.data} has already been merged into another record"]
    if kept is None or retired is None or form.kept.errors or form.retired.errors:
        return None
    return kept, retired


@blueprint.route("/merge", methods=["GET", "POST"])
@requires(Permission.RECORD_MERGE)
def merge() -> tuple[str, int]:
    form = MergeForm()
    if form.validate_on_submit() and (pair := _pair(form)) is not None:
        confirm = ConfirmMergeForm(kept=pair[0].index_id, retired=pair[1].index_id)
        kept, retired = (visible_record(child, viewer_for(g.user)) for child in pair)
        return render_template("sources/merge_confirm.html", kept=kept, retired=retired, form=confirm), 200
    return _render_merge(form)


@blueprint.route("/merge/confirm", methods=["POST"])
@requires(Permission.RECORD_MERGE)
def merge_confirm() -> Response | tuple[str, int]:
    confirm = ConfirmMergeForm()
    form = MergeForm(formdata=None, kept=confirm.kept.data, retired=confirm.retired.data)
    if not confirm.validate_on_submit() or (pair := _pair(confirm)) is None:
        form.form_errors.append("Those records cannot be merged: check the index IDs and try again")
        return _render_merge(form, 400)
    try:
        done = merges.merge_children(pair[0], pair[1], g.user)
    except merges.MergeError as error:
        form.form_errors.append(str(error))
        return _render_merge(form, 409)
    flash(f"Merged {pair[1].index_id} into {pair[0].index_id}. You can undo this below.", "success")
    return redirect(url_for("sources.merge", _anchor=f"merge-{done.id}"))


@blueprint.route("/merges/<merge_id>/undo", methods=["POST"])
@requires(Permission.RECORD_MERGE)
def merge_undo(merge_id: str) -> Response:
    found = _own_merge(merge_id)
    try:
        merges.undo_merge(found, g.user)
    except merges.MergeError as error:
        flash(str(error), "error")
    else:
        flash(
            f"Undid the merge: {found.surviving.index_id} and {found.retired.index_id} are separate records again",
            "success",
        )
    return redirect(url_for("sources.merge"))
