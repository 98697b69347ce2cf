"""Bulk import of accounts from CSV, with a report line for every row (nothing silently dropped).

Columns: email, name, roles (separated by ';'), vetting_reference, vetting_expires_on,
training_completed_on, approved_on (dates as YYYY-MM-DD or DD/MM/YYYY), line_manager_email,
home_postcode_district (an outward code such as LS6, or a whole postcode of which only that is kept).
Each good row becomes an account exactly as the create form makes one: roles needing approval
pending, a token issued, a one-time password to change at first sign-in.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select

from accreditation.permissions import Role
from index_service.accounts.operations import AccountRefused, Checks, create_user, grantable_roles
from index_service.audit.events import record_event
from index_service.audit.models import AuditTag
from index_service.auth.models import User
from index_service.extensions import db
from matching.normalise import postcode_district

REQUIRED = ("email", "name", "roles")
COLUMNS = (
    *REQUIRED,
    "vetting_reference",
    "vetting_expires_on",
    "training_completed_on",
    "approved_on",
    "line_manager_email",
    "home_postcode_district",
)
MAX_ROWS = 1000
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y")


class ImportRefused(Exception):
    """The file as a whole cannot be read: no row is imported."""


@dataclass(frozen=True)
class RowOutcome:
    row_number: int
    email: str
    created: bool
    messages: tuple[str, ...]
    password: str | None = None


def _date(text: str, column: str, problems: list[str]) -> date | None:
    text = text.strip()
    if not text:
        return None
    for pattern in DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    problems.append(f"{column} must be a date like 2027-03-31, not {text!r}")
    return None


def _district(text: str, problems: list[str]) -> str | None:
    if not text:
        return None
    district = postcode_district(text)
    if district is None:
        problems.append(f"home_postcode_district must be the first part of a postcode, like LS6, not {text!r}")
    return district


def _roles(text: str, allowed: list[Role], problems: list[str]) -> list[Role]:
    roles = []
    for part in (piece.strip().lower() for piece in text.split(";")):
        if not part:
            continue
        try:
            role = Role(part)
        except ValueError:
            problems.append(f"unknown role {part!r}")
            continue
        if role not in allowed:
            problems.append(f"you cannot grant the role {part}")
        roles.append(role)
    if not roles and not problems:
        problems.append("give at least one role")
    return roles


def read_rows(content: bytes) -> list[dict[str, str]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ImportRefused("The file must be UTF-8 CSV") from error
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip().lower() for name in reader.fieldnames or []]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise ImportRefused("The file's first row must name the columns; missing: " + ", ".join(missing))
    unknown = [name for name in header if name not in COLUMNS]
    if unknown:
        raise ImportRefused("Unknown columns: " + ", ".join(unknown))
    reader.fieldnames = header
    rows = [{key: (value or "").strip() for key, value in row.items() if key} for row in reader]
    if not rows:
        raise ImportRefused("The file has no rows under its header")
    if len(rows) > MAX_ROWS:
        raise ImportRefused(f"The file has {len(rows)} rows; import at most {MAX_ROWS} at once")
    return rows


def import_users(admin: User, content: bytes) -> list[RowOutcome]:
    """Create an account for every good row (each in a savepoint); report every row."""
    allowed = grantable_roles(admin)
    outcomes = []
    for number, row in enumerate(read_rows(content), start=2):
        problems: list[str] = []
        email = row.get("email", "")
        if "@" not in email or len(email) > 254:
            problems.append("email must be an email address")
        name = row.get("name", "")
        if not name or len(name) > 200:
            problems.append("name is required (at most 200 characters)")
        roles = _roles(row.get("roles", ""), allowed, problems)
        checks = Checks(
            row.get("vetting_reference") or None,
            _date(row.get("vetting_expires_on", ""), "vetting_expires_on", problems),
            _date(row.get("training_completed_on", ""), "training_completed_on", problems),
            _date(row.get("approved_on", ""), "approved_on", problems),
            _district(row.get("home_postcode_district", ""), problems),
        )
        manager_id = None
        if row.get("line_manager_email"):
            manager_id = db.session.scalar(
                select(User.id).where(
                    func.lower(User.email) == row["line_manager_email"].lower(),
                    User.organisation_id == admin.organisation_id,
                )
            )
            if manager_id is None:
                problems.append("line_manager_email is not an account in your organisation")
        if problems:
            outcomes.append(RowOutcome(number, email, False, tuple(problems)))
            continue
        try:
            with db.session.begin_nested():
                user, password = create_user(admin, email, name, roles, checks, manager_id)
        except AccountRefused as refused:
            outcomes.append(RowOutcome(number, email, False, (str(refused),)))
            continue
        pending = sorted(role.label for role in user.awaiting_approval)
        note = ("roles awaiting the index team's approval: " + ", ".join(pending),) if pending else ()
        outcomes.append(RowOutcome(number, user.email, True, note, password))
    record_event(
        AuditTag.ACCOUNT_IMPORT,
        details={
            "rows": len(outcomes),
            "created": sum(o.created for o in outcomes),
            "rejected": [o.row_number for o in outcomes if not o.created],
        },
    )
    return outcomes
