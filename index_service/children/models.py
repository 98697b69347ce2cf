"""The child record and nothing more: identity, whereabouts for matching, contacts, services.

Every value that a source supplies carries that source and the time it was supplied, so the
record can always say where each fact came from. The source itself (DataSource) lives in
index_service.sources.models; the relationships here name it as a string, and are typed loosely,
since sources imports children and naming the class here would make an import loop.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from index_service.database import UTCDateTime, utcnow
from index_service.enums import enum_column
from index_service.extensions import db
from index_service.organisation_models import Organisation


class Gender(StrEnum):
    MALE = "male"
    FEMALE = "female"
    OTHER = "other"
    UNKNOWN = "unknown"


class ChildStatus(StrEnum):
    ACTIVE = "active"
    ARCHIVED = "archived"
    DECEASED = "deceased"


class NameKind(StrEnum):
    PREFERRED = "preferred"
    FORMER = "former"
    ALIAS = "alias"


class IdentifierKind(StrEnum):
    NHS_NUMBER = "nhs_number"
    UPN = "upn"
    SOURCE_RECORD = "source_record"


class Service(StrEnum):
    EDUCATION = "education"
    GP_PRACTICE = "gp_practice"
    HEALTH_VISITOR = "health_visitor"
    SCHOOL_NURSE = "school_nurse"
    SOCIAL_CARE = "social_care"
    YOUTH_JUSTICE = "youth_justice"
    EARLY_HELP = "early_help"
    OTHER = "other"

    @property
    def label(self) -> str:
        return SERVICE_LABELS[self]


SERVICE_LABELS = {
    Service.EDUCATION: "Educational setting",
    Service.GP_PRACTICE: "GP practice",
    Service.HEALTH_VISITOR: "Health visitor",
    Service.SCHOOL_NURSE: "School nurse",
    Service.SOCIAL_CARE: "Social worker",
    Service.YOUTH_JUSTICE: "Youth justice",
    Service.EARLY_HELP: "Early help",
    Service.OTHER: "Other service",
}


class Child(db.Model):
    __tablename__ = "children"

    id: Mapped[int] = mapped_column(primary_key=True)
    index_id: Mapped[str] = mapped_column(String(12), unique=True)
    given_name: Mapped[str] = mapped_column(String(100))
    middle_names: Mapped[str | None] = mapped_column(String(200))
    family_name: Mapped[str] = mapped_column(String(100))
    date_of_birth: Mapped[date] = mapped_column(Date, index=True)
    gender: Mapped[Gender] = mapped_column(enum_column(Gender, "gender"))
    status: Mapped[ChildStatus] = mapped_column(enum_column(ChildStatus, "child_status"), default=ChildStatus.ACTIVE)
    is_shielded: Mapped[bool] = mapped_column(default=False)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("children.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    other_names: Mapped[list[ChildName]] = relationship(
        back_populates="child", cascade="all, delete-orphan", order_by="ChildName.id"
    )
    addresses: Mapped[list[Address]] = relationship(
        back_populates="child", cascade="all, delete-orphan", order_by="Address.id"
    )
    carers: Mapped[list[CarerContact]] = relationship(
        back_populates="child", cascade="all, delete-orphan", order_by="CarerContact.id"
    )
    identifiers: Mapped[list[SourceIdentifier]] = relationship(
        back_populates="child", cascade="all, delete-orphan", order_by="SourceIdentifier.id"
    )
    involvements: Mapped[list[Involvement]] = relationship(
        back_populates="child", cascade="all, delete-orphan", order_by="Involvement.start_date"
    )
    provenance: Mapped[list[FieldProvenance]] = relationship(
        back_populates="child", cascade="all, delete-orphan", order_by="FieldProvenance.field"
    )
    blocking_keys: Mapped[list[BlockingKey]] = relationship(cascade="all, delete-orphan")

    @property
    def current_address(self) -> Address | None:
        return next((address for address in self.addresses if address.is_current), None)


class _Supplied:
    """Columns every source-supplied value carries: which source, and when."""

    source_id: Mapped[int | None] = mapped_column(ForeignKey("data_sources.id"))
    supplied_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ChildName(_Supplied, db.Model):
    __tablename__ = "child_names"

    id: Mapped[int] = mapped_column(primary_key=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("children.id", ondelete="CASCADE"), index=True)
    kind: Mapped[NameKind] = mapped_column(enum_column(NameKind, "name_kind"))
    given_name: Mapped[str | None] = mapped_column(String(100))
    family_name: Mapped[str | None] = mapped_column(String(100))

    child: Mapped[Child] = relationship(back_populates="other_names")
    source: Mapped[Any] = relationship("DataSource")


class Address(_Supplied, db.Model):
    __tablename__ = "addresses"

    id: Mapped[int] = mapped_column(primary_key=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("children.id", ondelete="CASCADE"), index=True)
    line1: Mapped[str | None] = mapped_column(String(200))
    line2: Mapped[str | None] = mapped_column(String(200))
    town: Mapped[str | None] = mapped_column(String(100))
    postcode: Mapped[str | None] = mapped_column(String(10))
    postcode_key: Mapped[str | None] = mapped_column(String(8), index=True)
    is_current: Mapped[bool] = mapped_column(default=True)

    child: Mapped[Child] = relationship(back_populates="addresses")
    source: Mapped[Any] = relationship("DataSource")


class CarerContact(_Supplied, db.Model):
    __tablename__ = "carer_contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("children.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    relationship_to_child: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(40))

    child: Mapped[Child] = relationship(back_populates="carers")
    source: Mapped[Any] = relationship("DataSource")


class SourceIdentifier(_Supplied, db.Model):
    """Evidence of identity: NHS number, UPN, or a source system's own record id."""

    __tablename__ = "source_identifiers"
    __table_args__ = (
        # Its index answers every lookup by kind and value too.
        UniqueConstraint("kind", "value", "source_id", name="uq_source_identifiers_kind_value_source"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("children.id", ondelete="CASCADE"), index=True)
    kind: Mapped[IdentifierKind] = mapped_column(enum_column(IdentifierKind, "identifier_kind"))
    value: Mapped[str] = mapped_column(String(64))

    child: Mapped[Child] = relationship(back_populates="identifiers")
    source: Mapped[Any] = relationship("DataSource")


class Involvement(_Supplied, db.Model):
    """A service or practitioner working with the child; never why."""

    __tablename__ = "involvements"

    id: Mapped[int] = mapped_column(primary_key=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("children.id", ondelete="CASCADE"), index=True)
    service: Mapped[Service] = mapped_column(enum_column(Service, "service"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    role: Mapped[str | None] = mapped_column(String(100))
    practitioner_name: Mapped[str | None] = mapped_column(String(200))
    practitioner_phone: Mapped[str | None] = mapped_column(String(40))
    practitioner_email: Mapped[str | None] = mapped_column(String(254))
    start_date: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    is_lead_professional: Mapped[bool] = mapped_column(default=False)
    has_early_help_assessment: Mapped[bool] = mapped_column(default=False)

    child: Mapped[Child] = relationship(back_populates="involvements")
    organisation: Mapped[Organisation] = relationship(lazy="joined")
    source: Mapped[Any] = relationship("DataSource")


class FieldProvenance(db.Model):
    """Which source last supplied one of the child's own fields (names, date of birth, gender)."""

    __tablename__ = "field_provenance"

    child_id: Mapped[int] = mapped_column(ForeignKey("children.id", ondelete="CASCADE"), primary_key=True)
    field: Mapped[str] = mapped_column(String(40), primary_key=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("data_sources.id"))
    supplied_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    child: Mapped[Child] = relationship(back_populates="provenance")
    source: Mapped[Any] = relationship("DataSource")


class BlockingKey(db.Model):
    """A hashed blocking key: candidates for a search or a load are found through these alone."""

    __tablename__ = "blocking_keys"

    key: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("children.id", ondelete="CASCADE"), primary_key=True, index=True)
