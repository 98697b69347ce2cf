"""The data administrator's pages: sources, uploads and their progress, load reports, review, merges.

Everything here is scoped to the signed-in user's own organisation: another organisation's
source, load, report or review item is "not found" (404), never shown and never acted on.
Handlers do not commit: the request's one commit happens in `_finish_request`, and a load is
handed to its background process only after that commit (jobs.start_after_commit).
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
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import RequestEntityTooLarge

from accreditation.permissions import Permission
from index_service.audit.events import record_event
from index_service.audit.models import AuditTag
from index_service.auth.models import User
from index_service.children.lookup import surviving
from index_service.children.models import Child, DataSource, Service, SourceKind
from index_service.children.present import viewer_for, visible_record
from index_service.database import utcnow
from index_service.extensions import csrf, db
from index_service.guards import requires
from index_service.load_models import (
    Load,
    LoadKind,
    LoadRow,
    LoadStatus,
    Merge,
    QuarantinedRow,
    ReviewItem,
    RowOutcome,
)
from index_service.organisation_models import Organisation
from index_service.paging import page_asked, page_count
from index_service.sources import jobs, loading, registry, review, uploads
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
from index_service.sources.report import OUTCOME_ORDER, outcome_label, report_csv
from index_service.sources.uploads import size_text
from shielding.redaction import INDEX_TEAM_CONTACT, redact_comparison

blueprint = Blueprint("sources", __name__, url_prefix="/data")
blueprint.teardown_request(uploads.discard_unkept)  # an upload no committed load keeps is deleted

REPORT_PAGE_SIZE = 50
QUEUE_PAGE_SIZE = 20
RECENT_MERGES = 20
REFRESH_SECONDS = 3
NO_LONGER_STORED = (
    "The file is no longer stored: upload it again (a stopped load of the same file carries on from where it stopped)"
)
Model = TypeVar("Model")


# Loading objects: by id, and only the user's organisation's.


def _by_id(model: type[Model], raw_id: str) -> Model:
    """The object with this id, or 404 (ids in URLs are strings, so a malformed one is just "not found")."""
    if not raw_id.isdigit() or len(raw_id) > 18:
        abort(404)
    found = db.session.get(model, int(raw_id))
    if found is None:
        abort(404)
    return found


def _own(source: DataSource) -> DataSource:
    if not review.may_manage(g.user, source):
        abort(404)  # never confirm that another organisation's source exists
    return source


def _own_source(source_id: str) -> DataSource:
    return _own(_by_id(DataSource, source_id))


def _own_load(load_id: str) -> Load:
    load = _by_id(Load, load_id)
    _own(load.source)
    return load


def _own_item(item_id: str) -> ReviewItem:
    item = _by_id(ReviewItem, item_id)
    _own(item.source)
    if not review.may_see(g.user, item):
        abort(404)  # an item about a shielded record, for those who may see it
    return item


def _own_merge(merge_id: str) -> Merge:
    """A merge of a record the user's organisation supplied (the only ones it may undo), or 404."""
    found = _by_id(Merge, merge_id)
    if not review.supplied_by_organisation(found.surviving, g.user.organisation_id):
        abort(404)
    return found


# Dashboard and sources.


def _last_loads(source_ids: list[int]) -> dict[int, Load]:
    if not source_ids:
        return {}
    latest = select(func.max(Load.id)).where(Load.source_id.in_(source_ids)).group_by(Load.source_id).scalar_subquery()
    return {load.source_id: load for load in db.session.scalars(select(Load).where(Load.id.in_(latest)))}


def _organisation_sources() -> list[DataSource]:
    return list(
        db.session.scalars(
            select(DataSource).where(DataSource.organisation_id == g.user.organisation_id).order_by(DataSource.name)
        )
    )


@blueprint.route("")
@requires(Permission.SOURCE_MANAGE)
def dashboard() -> str:
    sources = _organisation_sources()
    recent = db.session.scalars(
        select(Load)
        .join(DataSource)
        .where(DataSource.organisation_id == g.user.organisation_id)
        .order_by(Load.id.desc())
        .limit(10)
    ).all()
    return render_template(
        "sources/dashboard.html",
        sources=sources,
        last_loads=_last_loads([s.id for s in sources]),
        counts=review.queue_counts(g.user),
        recent=recent,
    )


@blueprint.route("/sources")
@requires(Permission.SOURCE_MANAGE)
def source_list() -> str:
    sources = _organisation_sources()
    return render_template("sources/sources.html", sources=sources, last_loads=_last_loads([s.id for s in sources]))


def _register_form() -> RegisterSourceForm:
    form = RegisterSourceForm()
    organisations = db.session.scalars(select(Organisation).order_by(Organisation.name)).all()
    form.involvement_organisation.choices = [(o.id, o.name) for o in organisations]
    if request.method == "GET":
        form.involvement_organisation.data = g.user.organisation_id
    return form


@blueprint.route("/sources/new", methods=["GET", "POST"])
@requires(Permission.SOURCE_MANAGE)
def register() -> str | Response:
    form = _register_form()
    if form.validate_on_submit():
        involvement_organisation = db.session.get(Organisation, form.involvement_organisation.data)
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
    loads = db.session.scalars(select(Load).where(Load.source_id == found.id).order_by(Load.id.desc()).limit(20))
    return render_template("sources/source.html", source=found, loads=list(loads))


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
            stored = uploads.store(upload_file.stream, file_name, found.organisation_id)
            jobs.check_header(stored, fmt)
            load = loading.begin_load(
                found,
                stored,
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
            # A repeat's copy is deleted at the end of the request: the unfinished load of the same file carries on.
            jobs.start_after_commit(load, repeat=uploads.adopt(load, stored))
            return redirect(url_for("sources.load", load_id=load.id))
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
    if not found.is_dry_run or found.status is not LoadStatus.COMPLETED:
        abort(409, "Only a completed dry run can be loaded for real from this page.")
    if uploads.file_missing(found):
        flash(NO_LONGER_STORED, "error")
        return redirect(url_for("sources.load", load_id=found.id))
    try:
        real = loading.begin_load(
            found.source,
            Path(found.stored_path or ""),
            found.kind,
            file_name=found.file_name,
            dry_run=False,
            user=g.user,
        )
    except (ExtractError, OSError):
        flash(NO_LONGER_STORED, "error")
        return redirect(url_for("sources.load", load_id=found.id))
    uploads.adopt(real, Path(found.stored_path or ""))  # an unfinished load whose own copy expired runs from this one
    jobs.start_after_commit(real, repeat=real.started_at is not None)
    return redirect(url_for("sources.load", load_id=real.id))


@blueprint.route("/loads/<load_id>/resume", methods=["POST"])
@requires(Permission.LOAD_RUN)
def resume(load_id: str) -> Response:
    found = _own_load(load_id)
    if found.status is not LoadStatus.FAILED:
        abort(409, "Only a load that stopped can be resumed.")
    if uploads.file_missing(found):
        flash(NO_LONGER_STORED, "error")
        return redirect(url_for("sources.load", load_id=found.id))
    jobs.start_after_commit(found, repeat=True)
    return redirect(url_for("sources.load", load_id=found.id))


def _audit_report(load: Load, form: str) -> None:
    record_event(AuditTag.LOAD_REPORT_VIEW, user=g.user, details={"load_id": load.id, "format": form})


@blueprint.route("/loads/<load_id>/report")
@requires(Permission.LOAD_RUN)
def load_report(load_id: str) -> str:
    found = _own_load(load_id)
    form = ReportFilterForm(request.args)
    outcome = RowOutcome(form.outcome.data) if form.validate() and form.outcome.data else None
    where = [LoadRow.load_id == found.id] + ([LoadRow.outcome == outcome] if outcome else [])
    total = db.session.scalar(select(func.count()).select_from(LoadRow).where(*where)) or 0
    page = min(page_asked(), page_count(total, REPORT_PAGE_SIZE))
    rows = db.session.scalars(
        select(LoadRow)
        .where(*where)
        .options(selectinload(LoadRow.child))
        .order_by(LoadRow.row_number)
        .limit(REPORT_PAGE_SIZE)
        .offset((page - 1) * REPORT_PAGE_SIZE)
    ).all()
    quarantined = {
        q.row_number: q
        for q in db.session.scalars(
            select(QuarantinedRow).where(
                QuarantinedRow.load_id == found.id, QuarantinedRow.row_number.in_([r.row_number for r in rows])
            )
        )
    }
    _audit_report(found, "page")
    return render_template(
        "sources/report.html",
        load=found,
        rows=rows,
        quarantined=quarantined,
        form=form,
        outcome=outcome,
        page=page,
        pages=page_count(total, REPORT_PAGE_SIZE),
        total=total,
        label=outcome_label,
    )


@blueprint.route("/loads/<load_id>/report.csv")
@requires(Permission.LOAD_RUN)
def load_report_csv(load_id: str) -> Response:
    found = _own_load(load_id)
    _audit_report(found, "csv")
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
    ids = [candidate["index_id"] for candidate in item.candidates]
    found = db.session.scalars(
        select(Child)
        .where(Child.index_id.in_(ids))
        .options(
            selectinload(Child.addresses),
            selectinload(Child.carers),
            selectinload(Child.identifiers),
            selectinload(Child.other_names),
            selectinload(Child.involvements),
        )
    )
    children = {child.index_id: visible_record(child, viewer) for child in found}
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


def _child_by_index_id(index_id: str) -> Child | None:
    return db.session.scalar(
        select(Child)
        .where(Child.index_id == index_id)
        .options(
            selectinload(Child.addresses),
            selectinload(Child.identifiers),
            selectinload(Child.involvements),
            selectinload(Child.other_names),
            selectinload(Child.carers),
        )
    )


def _render_merge(form: MergeForm, status: int = 200) -> tuple[str, int]:
    merges = db.session.scalars(
        select(Merge)
        .join(User, User.id == Merge.merged_by_id)
        .where(User.organisation_id == g.user.organisation_id)
        .order_by(Merge.id.desc())
        .limit(RECENT_MERGES)
    ).all()
    return render_template("sources/merge.html", form=form, merges=merges), status


def _pair(form: MergeForm | ConfirmMergeForm) -> tuple[Child, Child] | None:
    kept, retired = _child_by_index_id(form.kept.parsed), _child_by_index_id(form.retired.parsed)
    for field, child in ((form.kept, kept), (form.retired, retired)):
        if child is None or not review.supplied_by_organisation(surviving(child), g.user.organisation_id):
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
        done = review.merge_children(pair[0], pair[1], g.user)
    except review.ReviewError as error:
        form.form_errors.append(str(error))
        return _render_merge(form, 409)
    flash(f"Merged {pair[1].index_id} into {pair[0].index_id}. You can undo this below.", "success")
    return redirect(url_for("sources.merge", _anchor=f"merge-{done.id}"))


@blueprint.route("/merges/<merge_id>/undo", methods=["POST"])
@requires(Permission.RECORD_MERGE)
def merge_undo(merge_id: str) -> Response:
    found = _own_merge(merge_id)
    try:
        review.undo_merge(found, g.user)
    except review.ReviewError as error:
        flash(str(error), "error")
    else:
        flash(
            f"Undid the merge: {found.surviving.index_id} and {found.retired.index_id} are separate records again",
            "success",
        )
    return redirect(url_for("sources.merge"))
