"""The subject access pack: the record with provenance and who looked, as a page and a PDF; names by policy."""

from __future__ import annotations

import base64
import re
import zlib
from datetime import date, timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from accreditation.permissions import Role
from index_service.audit.chain import enqueue
from index_service.audit.models import AuditEvent, AuditTag, Outcome
from index_service.auth.models import UserRole
from index_service.children.models import Child
from index_service.database import utcnow
from index_service.extensions import db
from index_service.record_shielding import operations as shields
from shielding.policy import ShieldReason
from tests.factories import make_child, make_organisation, make_user, sign_in


def _looked_at(app: Flask, child: Child) -> None:
    practitioner = make_user(organisation=make_organisation("Leeds Children's Services"))
    practitioner.display_name = "Pat Looker"
    db.session.commit()
    other = app.test_client()
    sign_in(other, practitioner)
    assert other.get(f"/children/{child.index_id}").status_code == 200


def _pdf_text(data: bytes) -> str:
    """The text drawn in a PDF's content streams (reportlab writes them ASCII85 over zlib)."""
    text = []
    for stream in re.findall(rb"stream\r?\n(.*?)endstream", data, re.DOTALL):
        try:
            stream = zlib.decompress(base64.a85decode(stream.strip().removesuffix(b"~>")))
        except (ValueError, zlib.error):
            continue
        text += [match.decode("latin-1") for match in re.findall(rb"\((.*?)\) Tj", stream)]
    return " ".join(text).replace("\\(", "(").replace("\\)", ")")


def test_the_pack_has_the_record_with_provenance_and_who_looked_without_names(app: Flask, client: FlaskClient) -> None:
    child = make_child()
    _looked_at(app, child)
    sign_in(client, make_user(Role.AUDITOR))
    page = client.get(f"/audit/children/{child.index_id}/subject-access")
    assert page.status_code == 200
    for held in ("Oliver", "Bennett", "12 Meadow Lane", "LS6 2AB", "Sarah Bennett", "9434765919", "Class teacher"):
        assert held in page.text, held
    assert "Leeds Children&#39;s Services" in page.text and "Practitioner" in page.text
    assert "viewed the record" in page.text and date.today().strftime("%d %B %Y") in page.text
    assert "Ms Patel" not in page.text and "Pat Looker" not in page.text
    assert "removed from this pack by policy" in page.text
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.tag == AuditTag.AUDIT_SUBJECT_ACCESS)).all()
    assert event.target_ids == [child.index_id] and event.details["format"] == "html"


def test_the_pdf_holds_the_same_pack(app: Flask, client: FlaskClient) -> None:
    child = make_child()
    _looked_at(app, child)
    sign_in(client, make_user(Role.AUDITOR))
    response = client.get(f"/audit/children/{child.index_id}/subject-access.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF-") and b"%%EOF" in response.data[-10:]
    text = _pdf_text(response.data)
    for held in ("Subject access pack", "Bennett", "12 Meadow Lane", "Leeds Children's Services", "Class teacher"):
        assert held in text, held
    assert "Ms Patel" not in text and "Pat Looker" not in text
    formats = [
        e.details["format"]
        for e in db.session.scalars(select(AuditEvent).where(AuditEvent.tag == AuditTag.AUDIT_SUBJECT_ACCESS))
    ]
    assert formats == ["pdf"]


def test_names_are_shown_when_the_policy_says_so(app: Flask, client: FlaskClient, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setitem(app.config, "SUBJECT_ACCESS_SHOWS_NAMES", True)
    child = make_child()
    _looked_at(app, child)
    sign_in(client, make_user(Role.AUDITOR))
    page = client.get(f"/audit/children/{child.index_id}/subject-access")
    assert "Ms Patel" in page.text and "Pat Looker" in page.text
    assert "Pat Looker" in _pdf_text(client.get(f"/audit/children/{child.index_id}/subject-access.pdf").data)


def test_a_shielded_childs_pack_withholds_whereabouts_and_names_organisations_by_kind(
    app: Flask,
    client: FlaskClient,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setitem(app.config, "SUBJECT_ACCESS_SHOWS_NAMES", True)
    child = make_child()
    shields.shield(
        child, ShieldReason.DOMESTIC_ABUSE, "Refuge", date.today() + timedelta(days=30), make_user(Role.SHIELDER)
    )
    db.session.commit()
    school = child.involvements[0].organisation.name
    viewer = make_user(Role.SHIELDER, organisation=make_organisation("Refuge Town School"))
    other = app.test_client()
    sign_in(other, viewer)
    assert other.get(f"/children/{child.index_id}").status_code == 200
    sign_in(client, make_user(Role.AUDITOR))
    page = client.get(f"/audit/children/{child.index_id}/subject-access").text
    pdf = _pdf_text(client.get(f"/audit/children/{child.index_id}/subject-access.pdf").data)
    for text in (page, pdf):
        assert "Oliver" in text and "record is shielded" in text
        for hidden in (
            "Meadow Lane",
            "LS6 2AB",
            "Sarah Bennett",
            "9434765919",
            school,
            "Ms Patel",
            "Refuge Town School",
            "Test User",
        ):
            assert hidden not in text, hidden
        assert "a local authority" in text


def test_the_pack_names_the_roles_a_viewer_had_when_they_looked(app: Flask, client: FlaskClient) -> None:
    child = make_child()
    viewer = make_user(Role.PRACTITIONER, Role.DATA_ADMIN, organisation=make_organisation("Leeds Data Team"))
    other = app.test_client()
    sign_in(other, viewer)
    assert other.get(f"/children/{child.index_id}").status_code == 200
    [view] = db.session.scalars(select(AuditEvent).where(AuditEvent.tag == AuditTag.RECORD_VIEW)).all()
    assert view.actor_roles == "data_admin,practitioner"
    viewer.role_grants.clear()
    viewer.role_grants.append(UserRole(role=Role.USER_ADMIN))
    db.session.commit()
    sign_in(client, make_user(Role.AUDITOR))
    page = client.get(f"/audit/children/{child.index_id}/subject-access").text
    assert "Data administrator, Practitioner" in page and "User administrator" not in page


def test_an_event_from_before_roles_were_recorded_gives_the_roles_held_now(app: Flask, client: FlaskClient) -> None:
    child = make_child()
    viewer = make_user(Role.PRACTITIONER, organisation=make_organisation("Old Events School"))
    enqueue(
        db.session(),
        AuditEvent(
            occurred_at=utcnow(),
            tag=AuditTag.RECORD_VIEW,
            outcome=Outcome.SUCCESS,
            user_id=viewer.id,
            organisation_id=viewer.organisation_id,
            target_ids=[child.index_id],
            details={},
        ),
    )
    db.session.commit()
    sign_in(client, make_user(Role.AUDITOR))
    page = client.get(f"/audit/children/{child.index_id}/subject-access").text
    assert "Practitioner (roles held now; not recorded at the time)" in page
