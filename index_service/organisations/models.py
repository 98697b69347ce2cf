"""Organisations: every person belongs to exactly one."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from index_service.database import UTCDateTime, utcnow
from index_service.enums import enum_column
from index_service.extensions import db


class OrganisationType(StrEnum):
    LOCAL_AUTHORITY = "local_authority"
    NHS_TRUST = "nhs_trust"
    GP_PRACTICE = "gp_practice"
    SCHOOL = "school"
    POLICE = "police"
    YOUTH_OFFENDING_TEAM = "youth_offending_team"
    VOLUNTARY = "voluntary"
    NATIONAL_INDEX = "national_index"


class Organisation(db.Model):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    type: Mapped[OrganisationType] = mapped_column(enum_column(OrganisationType, "organisation_type"))
    phone: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
