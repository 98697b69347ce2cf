"""The subject access pack: what the index holds on one child, with provenance, and who looked.

It goes to a requester, who may be the very person a shielded child is hidden from. So for a
shielded child the record in the pack is what anyone without the right to see shielded
records sees (shielding/redaction decides, as for every page): no address, carer, identifier,
involvement or provenance; and the organisations that looked are given by their kind only
(a school, a GP practice), since a named school or surgery tells where the child is. Nothing
in the app releases more: that takes a shielder's decision outside this pack. Practitioners'
names (and the email addresses that carry them) are removed unless SUBJECT_ACCESS_SHOWS_NAMES
says otherwise.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy import select

from accreditation.permissions import Role
from index_service.audit.events import record_event
from index_service.audit.models import AuditEvent, AuditTag, Outcome
from index_service.audit_reports.reports import names_any_child, record_ids
from index_service.auth.models import User
from index_service.children.lookup import child_by_index_id
from index_service.children.present import record_of
from index_service.database import utcnow
from index_service.extensions import db
from index_service.organisation_models import Organisation
from shielding.redaction import Viewer, redact

LOOKS = {
    AuditTag.RECORD_VIEW: "viewed the record",
    AuditTag.OVERRIDE_VIEW: "viewed it by emergency access",
    AuditTag.RECORD_SEARCH: "found it in a search",
}
PRACTITIONER_FIELDS = ("practitioner_name", "practitioner_email")
REQUESTER = Viewer(may_see_shielded=False)
WITHHELD = (
    "This child's record is shielded. The address, carers, identifiers, the services involved and where "
    "each value came from are withheld from this pack, and the organisations that looked are given by "
    "their kind only. Releasing more needs a decision by the shielding team."
)


@dataclass(frozen=True)
class Look:
    organisation: str
    roles: str
    how: str
    first: date
    last: date
    times: int
    people: str | None


@dataclass
class Pack:
    index_id: str
    made_at: datetime
    shielded: bool
    names_shown: bool
    record: dict[str, Any]
    looks: list[Look] = field(default_factory=list)


def _without_names(record: dict[str, Any]) -> dict[str, Any]:
    involvements = [
        {key: value for key, value in involvement.items() if key not in PRACTITIONER_FIELDS}
        for involvement in record.get("involvements", [])
    ]
    return {**record, "involvements": involvements} if "involvements" in record else record


def _labels(values: Iterable[str]) -> str:
    return ", ".join(sorted(Role(value).label for value in values)) or "no role"


def _roles(event: AuditEvent, user: User | None) -> str:
    """The roles the viewer had when they looked, as the event recorded them; for an event written
    before roles were recorded, the viewer's roles now, said to be so."""
    if event.actor_roles is not None:
        return _labels(filter(None, event.actor_roles.split(",")))
    if user is None:
        return "a source system"
    return _labels(user.roles) + " (roles held now; not recorded at the time)"


def build(index_id: str, *, names: bool) -> Pack | None:
    child = child_by_index_id(index_id)
    if child is None:
        return None
    record = redact(record_of(child), REQUESTER)
    if not names:
        record = _without_names(record)
    pack = Pack(child.index_id, utcnow(), child.is_shielded, names and not child.is_shielded, record)
    pack.looks = _looks(record_ids(index_id), shielded=child.is_shielded, names=pack.names_shown)
    return pack


def _looks(index_ids: set[str], *, shielded: bool, names: bool) -> list[Look]:
    """Views and search appearances of the child by organisation, roles and kind of look, with dates."""
    query = (
        select(AuditEvent, User, Organisation)
        .outerjoin(User, User.id == AuditEvent.user_id)
        .outerjoin(Organisation, Organisation.id == AuditEvent.organisation_id)
        .where(AuditEvent.tag.in_(list(LOOKS)), AuditEvent.outcome == Outcome.SUCCESS)
        .where(names_any_child(index_ids))
        .order_by(AuditEvent.chain_position)
    )
    grouped: dict[tuple[str, str, str], list[tuple[date, str | None]]] = defaultdict(list)
    for event, user, organisation in db.session.execute(query):
        if organisation is None:
            name = "unknown organisation"
        else:
            name = f"a {organisation.type.value.replace('_', ' ')}" if shielded else organisation.name
        grouped[(name, _roles(event, user), LOOKS[event.tag])].append(
            (event.occurred_at.date(), user.display_name if user and names else None)
        )
    return [
        Look(
            organisation,
            roles,
            how,
            min(d for d, _ in seen),
            max(d for d, _ in seen),
            len(seen),
            ", ".join(sorted({person for _, person in seen if person})) or None,
        )
        for (organisation, roles, how), seen in sorted(grouped.items())
    ]


def record_pack(pack: Pack, form: str) -> None:
    record_event(
        AuditTag.AUDIT_SUBJECT_ACCESS,
        target_ids=[pack.index_id],
        details={"format": form, "shielded": pack.shielded, "names_shown": pack.names_shown, "looks": len(pack.looks)},
    )


# The PDF.


def _cell(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, datetime | date):
        return value.strftime("%d %B %Y")
    return str(value)


def _table(rows: list[list[str]], styles: Any, widths: list[float] | None = None) -> Table:
    body = [[Paragraph(escape(text), styles["BodyText"]) for text in row] for row in rows]
    table = Table(body, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f3f2f1")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table


def pdf(pack: Pack) -> bytes:
    """The pack as a PDF, built with reportlab (pure Python, no outside service)."""
    styles = getSampleStyleSheet()
    record = pack.record
    story: list[Any] = [
        Paragraph(escape(f"Subject access pack: child {pack.index_id}"), styles["Title"]),
        Paragraph(escape(f"Made on {pack.made_at:%d %B %Y at %H:%M} UTC by the Child Index."), styles["BodyText"]),
    ]
    if pack.shielded:
        story.append(Paragraph(escape(WITHHELD), styles["BodyText"]))
    story += [Spacer(1, 4 * mm), Paragraph("The record as held", styles["Heading2"])]
    details = [
        ["Field", "Value"],
        [
            "Name",
            " ".join(filter(None, [record.get("given_name"), record.get("middle_names"), record.get("family_name")])),
        ],
        ["Date of birth", _cell(record.get("date_of_birth"))],
        ["Gender", _cell(record.get("gender"))],
        ["Status", _cell(record.get("status"))],
    ]
    for name in record.get("other_names", []):
        details.append(
            [f"Other name ({name['kind']})", " ".join(filter(None, [name["given_name"], name["family_name"]]))]
        )
    address = record.get("address")
    if address:
        details.append(
            [
                "Address",
                ", ".join(filter(None, [address["line1"], address["line2"], address["town"], address["postcode"]]))
                + f" (from {address['source'] or 'the index'}, {_cell(address['supplied_at'])})",
            ]
        )
    for carer in record.get("carers", []):
        details.append(
            [
                "Parent or carer",
                f"{carer['name']} {carer['relationship'] or ''} {carer['phone'] or ''}"
                f" (from {carer['source'] or 'the index'}, {_cell(carer['supplied_at'])})",
            ]
        )
    for identifier in record.get("identifiers", []):
        details.append(
            [
                identifier["kind"],
                f"{identifier['value']} (from {identifier['source'] or 'the index'}, "
                f"{_cell(identifier['supplied_at'])})",
            ]
        )
    story.append(_table(details, styles, [45 * mm, 125 * mm]))
    involvements = record.get("involvements", [])
    if involvements:
        story += [Spacer(1, 4 * mm), Paragraph("Services involved", styles["Heading2"])]
        rows = [["Service", "Organisation", "Role", "From", "To", "Source"]]
        rows += [
            [
                i["service_label"],
                i["organisation"],
                i["role"] or "",
                _cell(i["start_date"]),
                _cell(i["end_date"]),
                f"{i['source'] or 'the index'}, {_cell(i['supplied_at'])}",
            ]
            for i in involvements
        ]
        story.append(_table(rows, styles))
    provenance = record.get("provenance", [])
    if provenance:
        story += [Spacer(1, 4 * mm), Paragraph("Where each value came from", styles["Heading2"])]
        story.append(
            _table(
                [["Field", "Source", "Supplied"]]
                + [[item["field"], item["source"] or "the index", _cell(item["supplied_at"])] for item in provenance],
                styles,
            )
        )
    story += [Spacer(1, 4 * mm), Paragraph("Who looked at the record", styles["Heading2"])]
    if pack.looks:
        header = ["Organisation", "Roles", "What they did", "First", "Last", "Times"]
        header += ["People"] if pack.names_shown else []
        rows = [header] + [
            [look.organisation, look.roles, look.how, _cell(look.first), _cell(look.last), str(look.times)]
            + ([look.people or ""] if pack.names_shown else [])
            for look in pack.looks
        ]
        story.append(_table(rows, styles))
    else:
        story.append(Paragraph("Nobody has looked at this record.", styles["BodyText"]))
    if not pack.names_shown:
        story.append(Paragraph("Practitioners' names are removed from this pack by policy.", styles["BodyText"]))
    out = io.BytesIO()
    SimpleDocTemplate(out, pagesize=A4, title=f"Subject access pack {pack.index_id}", author="Child Index").build(story)
    return out.getvalue()
