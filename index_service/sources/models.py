"""Data sources: the registered agency systems that supply extracts, and what kind each is.

Children's supplied values, loads, review items and OAuth clients point to a source; those
models name it as a string ("DataSource") in their relationships, since this package imports
theirs.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from index_service.children.models import Service
from index_service.database import UTCDateTime, utcnow
from index_service.enums import enum_column
from index_service.extensions import db
from index_service.organisation_models import Organisation


class SourceKind(StrEnum):
    SOCIAL_CARE = "social_care"
    HEALTH = "health"
    GP = "gp"
    SCHOOL_CENSUS = "school_census"
    YOUTH_JUSTICE = "youth_justice"
    POLICE = "police"
    OTHER = "other"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class DataSource(db.Model):
    """A registered agency system that supplies extracts.

    Each row it sends implies one involvement: `service` with `involvement_organisation`
    (the school, the GP practice, the social care team), which may differ from the
    organisation that owns and runs the source.
    """

    __tablename__ = "data_sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    kind: Mapped[SourceKind] = mapped_column(enum_column(SourceKind, "source_kind"), default=SourceKind.OTHER)
    service: Mapped[Service] = mapped_column(enum_column(Service, "service"), default=Service.OTHER)
    involvement_organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    involvement_role: Mapped[str | None] = mapped_column(String(100))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    organisation: Mapped[Organisation] = relationship(lazy="joined", foreign_keys=[organisation_id])
    involvement_organisation: Mapped[Organisation] = relationship(
        lazy="joined", foreign_keys=[involvement_organisation_id]
    )
