"""The index team's writes on organisations and criteria, and the line manager's usage report; each audited."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select
from werkzeug.exceptions import NotFound

from accreditation.access import AccreditationStatus
from accreditation.criteria import unmet_mandatory
from accreditation.usage import PersonUsage, UsageEvent, Use, summarise
from index_service.audit.events import record_event
from index_service.audit.models import AuditEvent, AuditTag, Outcome
from index_service.auth.models import User
from index_service.database import utcnow
from index_service.extensions import db
from index_service.organisation_models import Criterion, CriterionEvidence, Organisation, OrganisationType
from index_service.paging import page_count

USAGE_TAGS = (AuditTag.RECORD_SEARCH, AuditTag.RECORD_VIEW, AuditTag.OVERRIDE_VIEW, AuditTag.SHIELD_OVERRIDE)
LONGEST_REPORT = timedelta(days=92)


class AccreditationRefused(Exception):
    """A change the index team may not make (yet), with the message to show."""


class OrganisationRefused(Exception):
    """An organisation the server's operator names that is missing, or adds that exists, with the message to show."""


def organisation_named(name: str) -> Organisation:
    organisation = db.session.scalar(select(Organisation).where(Organisation.name == name))
    if organisation is None:
        raise OrganisationRefused(f"No organisation is called {name!r}. Add it with: orgs add {name!r} --type TYPE")
    return organisation


def add_organisation(name: str, kind: OrganisationType, phone: str | None = None) -> Organisation:
    if db.session.scalar(select(Organisation).where(Organisation.name == name)) is not None:
        raise OrganisationRefused(f"An organisation called {name!r} already exists")
    organisation = Organisation(name=name, type=kind, phone=phone)
    db.session.add(organisation)
    db.session.flush()
    return organisation


def accredit(organisation: Organisation, until: date) -> None:
    organisation.accreditation_status = AccreditationStatus.ACCREDITED
    organisation.accredited_until = until
    organisation.accredited_at = utcnow()


def organisations_page(page: int, per_page: int) -> tuple[Sequence[Organisation], int, int]:
    total = db.session.scalar(select(func.count()).select_from(Organisation)) or 0
    pages = page_count(total, per_page)
    page = min(page, pages)
    rows = db.session.scalars(
        select(Organisation).order_by(Organisation.name).offset((page - 1) * per_page).limit(per_page)
    ).all()
    return rows, page, pages


def organisation(organisation_id: int) -> Organisation:
    found = db.session.get(Organisation, organisation_id)
    if found is None:
        raise NotFound("No organisation has this id")
    return found


def criteria(include_retired: bool = False) -> Sequence[Criterion]:
    query = select(Criterion).order_by(Criterion.position, Criterion.id)
    if not include_retired:
        query = query.where(Criterion.retired.is_(False))
    return db.session.scalars(query).all()


def evidence_of(organisation: Organisation) -> dict[int, CriterionEvidence]:
    rows = db.session.scalars(select(CriterionEvidence).where(CriterionEvidence.organisation_id == organisation.id))
    return {row.criterion_id: row for row in rows}


def unmet(organisation: Organisation) -> list[Criterion]:
    current = criteria()
    met = evidence_of(organisation)
    missing = set(unmet_mandatory([c.code for c in current if c.mandatory], [c.code for c in current if c.id in met]))
    return [criterion for criterion in current if criterion.code in missing]


def create_organisation(name: str, kind: OrganisationType, phone: str | None) -> Organisation:
    name = " ".join(name.split())
    if db.session.scalar(select(Organisation.id).where(func.lower(Organisation.name) == name.lower())):
        raise AccreditationRefused("An organisation with this name already exists")
    created = Organisation(name=name, type=kind, phone=phone or None)
    db.session.add(created)
    db.session.flush()
    record_event(AuditTag.ORGANISATION_CREATE, details={"organisation_id": created.id, "name": name})
    return created


def record_evidence(
    confirmer: User, organisation: Organisation, criterion_id: int, evidence: str, met_on: date
) -> CriterionEvidence:
    criterion = db.session.get(Criterion, criterion_id)
    if criterion is None or criterion.retired:
        raise AccreditationRefused("Choose one of the current criteria")
    row = evidence_of(organisation).get(criterion_id)
    if row is None:
        row = CriterionEvidence(organisation_id=organisation.id, criterion_id=criterion_id)
        db.session.add(row)
    row.evidence, row.met_on = evidence.strip(), met_on
    row.confirmed_by_id, row.confirmed_at = confirmer.id, utcnow()
    db.session.flush()
    record_event(
        AuditTag.CRITERION_MET,
        details={"organisation_id": organisation.id, "criterion": criterion.code, "met_on": met_on.isoformat()},
    )
    return row


def accredit_organisation(organisation: Organisation, until: date, today: date) -> None:
    """Accredit when every mandatory criterion is met; the expiry must be after today."""
    missing = unmet(organisation)
    if missing:
        record_event(
            AuditTag.ORGANISATION_ACCREDIT,
            Outcome.DENIED,
            details={"organisation_id": organisation.id, "unmet": [criterion.code for criterion in missing]},
        )
        raise AccreditationRefused(
            f"{len(missing)} mandatory criteria are not met yet: " + "; ".join(criterion.title for criterion in missing)
        )
    if until <= today:
        raise AccreditationRefused("The accreditation must expire after today")
    accredit(organisation, until)
    record_event(
        AuditTag.ORGANISATION_ACCREDIT, details={"organisation_id": organisation.id, "until": until.isoformat()}
    )


def suspend_organisation(organisation: Organisation, reason: str) -> None:
    """Suspend at once: every one of its people loses access at their next request."""
    organisation.accreditation_status = AccreditationStatus.SUSPENDED
    record_event(
        AuditTag.ORGANISATION_SUSPEND,
        reason=reason[:100],
        details={"organisation_id": organisation.id, "reason": reason},
    )


def add_criterion(code: str, title: str, mandatory: bool) -> Criterion:
    if db.session.scalar(select(Criterion.id).where(Criterion.code == code)):
        raise AccreditationRefused("A criterion with this code already exists")
    position = (db.session.scalar(select(func.max(Criterion.position))) or 0) + 1
    criterion = Criterion(code=code, title=title.strip(), mandatory=mandatory, position=position)
    db.session.add(criterion)
    db.session.flush()
    record_event(AuditTag.CRITERIA_CHANGE, details={"added": code, "mandatory": mandatory})
    return criterion


def change_criterion(criterion_id: int, mandatory: bool, retired: bool) -> Criterion:
    criterion = db.session.get(Criterion, criterion_id)
    if criterion is None:
        raise NotFound("No criterion has this id")
    criterion.mandatory, criterion.retired = mandatory, retired
    record_event(
        AuditTag.CRITERIA_CHANGE, details={"changed": criterion.code, "mandatory": mandatory, "retired": retired}
    )
    return criterion


def staff_of(manager: User) -> Sequence[User]:
    return db.session.scalars(
        select(User).where(User.line_manager_id == manager.id).order_by(User.display_name, User.id)
    ).all()


def _use(event: AuditEvent) -> Use:
    if event.tag is AuditTag.RECORD_SEARCH:
        return Use.SEARCH
    if event.tag is AuditTag.SHIELD_OVERRIDE:
        return Use.OVERRIDE
    shielded = (
        event.tag is AuditTag.OVERRIDE_VIEW
        or bool(event.details.get("shielded"))
        or bool(event.details.get("redacted"))
    )
    return Use.SHIELDED_VIEW if shielded else Use.VIEW


def staff_usage(manager: User, first: date, last: date) -> tuple[Sequence[User], list[PersonUsage]]:
    """The manager's own staff's use between two days (inclusive), from the audit trail only."""
    staff = staff_of(manager)
    ids = [person.id for person in staff]
    start = datetime.combine(first, time.min, tzinfo=UTC) - timedelta(hours=1)
    end = datetime.combine(last, time.max, tzinfo=UTC) + timedelta(hours=1)
    events = (
        db.session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.user_id.in_(ids),
                AuditEvent.tag.in_(USAGE_TAGS),
                AuditEvent.outcome == Outcome.SUCCESS,
                AuditEvent.occurred_at >= start,
                AuditEvent.occurred_at <= end,
            )
            .order_by(AuditEvent.occurred_at)
        ).all()
        if ids
        else []
    )
    usage = summarise(ids, (UsageEvent(e.user_id, e.occurred_at, _use(e)) for e in events if e.user_id))
    for person in usage:
        person.days = [day for day in person.days if first <= day.day <= last]
    record_event(
        AuditTag.USAGE_REPORT_VIEW,
        target_ids=[str(i) for i in ids],
        details={"from": first.isoformat(), "to": last.isoformat()},
    )
    return staff, usage
