"""Registering data sources: who owns each, what it is, and which involvement its rows imply."""

from __future__ import annotations

from sqlalchemy import func, select

from index_service.audit.events import record_event
from index_service.audit.models import AuditTag
from index_service.auth.models import User
from index_service.children.models import Service
from index_service.extensions import db
from index_service.organisation_models import Organisation
from index_service.sources.models import DataSource, SourceKind


class SourceError(ValueError):
    """A data source cannot be registered or changed as asked; the message says why."""


def source_named(name: str) -> DataSource | None:
    return db.session.scalar(select(DataSource).where(func.lower(DataSource.name) == name.strip().lower()))


def register_source(
    name: str,
    organisation: Organisation,
    kind: SourceKind,
    service: Service,
    involvement_organisation: Organisation | None = None,
    involvement_role: str | None = None,
    user: User | None = None,
) -> DataSource:
    name = name.strip()
    if not name:
        raise SourceError("Give the data source a name")
    if len(name) > 200:
        raise SourceError("The name must be 200 characters or fewer")
    if source_named(name) is not None:
        raise SourceError(f"A data source called {name!r} already exists")
    source = DataSource(
        name=name,
        organisation=organisation,
        kind=kind,
        service=service,
        involvement_organisation=involvement_organisation or organisation,
        involvement_role=(involvement_role or "").strip() or None,
        is_active=True,
    )
    db.session.add(source)
    db.session.flush()
    record_event(
        AuditTag.SOURCE_REGISTER,
        user=user,
        details={
            "source_id": source.id,
            "name": source.name,
            "organisation": organisation.name,
            "kind": kind.value,
            "service": service.value,
        },
    )
    return source


def set_active(source: DataSource, active: bool, user: User | None = None) -> None:
    source.is_active = active
    record_event(AuditTag.SOURCE_CHANGE, user=user, details={"source_id": source.id, "active": active})


def source_by_id(source_id: int) -> DataSource | None:
    return db.session.get(DataSource, source_id)


def organisation_sources(organisation_id: int) -> list[DataSource]:
    """The organisation's own data sources, by name."""
    return list(
        db.session.scalars(
            select(DataSource).where(DataSource.organisation_id == organisation_id).order_by(DataSource.name)
        )
    )


def organisations() -> list[Organisation]:
    """Every organisation, by name: those a source's rows may imply an involvement with."""
    return list(db.session.scalars(select(Organisation).order_by(Organisation.name)))


def organisation_by_id(organisation_id: int | None) -> Organisation | None:
    return None if organisation_id is None else db.session.get(Organisation, organisation_id)
