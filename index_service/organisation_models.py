"""Organisations (every person belongs to exactly one), their accreditation and the criteria behind it:
the rows users, children and sources point to, apart from the index team's organisation pages
(index_service/organisations/), which need auth."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accreditation.access import AccreditationStatus, Refusal, organisation_refusal
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
    accreditation_status: Mapped[AccreditationStatus] = mapped_column(
        enum_column(AccreditationStatus, "accreditation_status"), default=AccreditationStatus.PENDING
    )
    accredited_until: Mapped[date | None] = mapped_column(Date)
    accredited_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # who did it is in the audit trail

    def accreditation_refusal(self, today: date) -> Refusal | None:
        return organisation_refusal(self.accreditation_status, self.accredited_until, today)


class Criterion(db.Model):
    """One accreditation criterion; retired ones are kept for the evidence that names them."""

    __tablename__ = "accreditation_criteria"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    mandatory: Mapped[bool] = mapped_column(default=True)
    retired: Mapped[bool] = mapped_column(default=False)
    position: Mapped[int] = mapped_column(default=0)


class CriterionEvidence(db.Model):
    """How an organisation meets a criterion: the evidence, the date it was met and who confirmed it."""

    __tablename__ = "criterion_evidence"
    __table_args__ = (UniqueConstraint("organisation_id", "criterion_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    criterion_id: Mapped[int] = mapped_column(ForeignKey("accreditation_criteria.id"))
    evidence: Mapped[str] = mapped_column(String(2000))
    met_on: Mapped[date] = mapped_column(Date)
    confirmed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    confirmed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    criterion: Mapped[Criterion] = relationship(lazy="joined")
