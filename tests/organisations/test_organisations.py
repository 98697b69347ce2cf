"""The index team accredits organisations against the criteria; suspension ends their staff's access
at once; a line manager sees their own staff's use of the index and nobody else's."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from accreditation.access import AccreditationStatus
from accreditation.permissions import Role
from index_service.audit.models import AuditEvent, AuditTag, Outcome
from index_service.database import utc_today, utcnow
from index_service.extensions import db
from index_service.organisation_models import Criterion, Organisation
from tests.database import owner_bypass
from tests.factories import make_code_stale, make_organisation, make_user, page_csrf, sign_in, submit_password


def _events(tag: AuditTag) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.tag == tag).order_by(AuditEvent.id)))


def _index_team(client: FlaskClient) -> None:
    sign_in(client, make_user(Role.INDEX_TEAM))


def test_the_criteria_are_seeded_by_the_migration(app: Flask) -> None:
    from accreditation.criteria import SEED_CRITERIA

    codes = set(db.session.scalars(select(Criterion.code)))
    assert codes == {seed.code for seed in SEED_CRITERIA}, "the migration's seed and accreditation/criteria.py agree"
    assert {
        "hr_records",
        "vetting",
        "exit_procedure",
        "shielding_policy",
        "token_management",
        "death_of_child",
        "data_sharing_agreements",
        "disputed_data",
        "line_manager_monitoring",
    } <= codes


def test_an_organisation_is_accredited_only_when_every_mandatory_criterion_is_met(client: FlaskClient) -> None:
    _index_team(client)
    token = page_csrf(client, "/organisations/new")
    created = client.post(
        "/organisations/new", data={"name": "Wakefield Council", "type": "local_authority", "csrf_token": token}
    )
    assert created.status_code == 302
    organisation = db.session.scalar(select(Organisation).where(Organisation.name == "Wakefield Council"))
    path = f"/organisations/{organisation.id}"
    until = (utc_today() + timedelta(days=365)).strftime("%d/%m/%Y")
    early = client.post(f"{path}/accredit", data={"until": until, "csrf_token": token})
    assert early.status_code == 409 and "mandatory criteria are not met yet" in early.text
    assert _events(AuditTag.ORGANISATION_ACCREDIT)[-1].outcome is Outcome.DENIED
    mandatory = db.session.scalars(
        select(Criterion).where(Criterion.mandatory.is_(True), Criterion.retired.is_(False))
    ).all()
    for criterion in mandatory:
        response = client.post(
            f"{path}/evidence",
            data={
                "criterion_id": criterion.id,
                "met_on": "01/11/2026",
                "evidence": "Seen the policy, version 3.",
                "csrf_token": token,
            },
        )
        assert response.status_code == 302
    page = client.get(path)
    assert "not met yet" not in page.text and "Seen the policy, version 3." in page.text
    past = client.post(f"{path}/accredit", data={"until": utc_today().strftime("%d/%m/%Y"), "csrf_token": token})
    assert past.status_code == 409 and "must expire after today" in past.text
    done = client.post(f"{path}/accredit", data={"until": until, "csrf_token": token})
    assert done.status_code == 302
    db.session.expire_all()
    organisation = db.session.get(Organisation, organisation.id)
    assert organisation.accreditation_status is AccreditationStatus.ACCREDITED
    assert organisation.accreditation_refusal(utc_today()) is None
    assert len(_events(AuditTag.CRITERION_MET)) == len(mandatory)
    assert "Accredited until" in client.get("/organisations").text


def test_evidence_needs_a_text_and_a_date(client: FlaskClient) -> None:
    _index_team(client)
    organisation = make_organisation(accredited=False)
    token = page_csrf(client, "/organisations")
    response = client.post(
        f"/organisations/{organisation.id}/evidence", data={"criterion_id": "1", "evidence": "", "csrf_token": token}
    )
    assert response.status_code == 400
    assert "Describe the evidence" in response.text and "Enter the date the criterion was met" in response.text
    assert client.get("/organisations/999999").status_code == 404


def test_suspending_an_organisation_ends_its_staffs_sessions_at_once(client: FlaskClient, app: Flask) -> None:
    _index_team(client)
    organisation = make_organisation()
    member = make_user(organisation=organisation)
    theirs = app.test_client()
    sign_in(theirs, member)
    assert theirs.get("/search").status_code == 200
    token = page_csrf(client, "/organisations")
    missing = client.post(f"/organisations/{organisation.id}/suspend", data={"reason": "", "csrf_token": token})
    assert missing.status_code == 400
    response = client.post(
        f"/organisations/{organisation.id}/suspend", data={"reason": "Audit found shared log-ins.", "csrf_token": token}
    )
    assert response.status_code == 302
    assert theirs.get("/search").status_code == 302
    assert "accreditation is suspended" in unescape(theirs.get("/sign-in").text)
    assert submit_password(app.test_client(), member.email).status_code == 403
    assert _events(AuditTag.ORGANISATION_SUSPEND)[-1].details["reason"] == "Audit found shared log-ins."


def test_suspending_needs_a_fresh_code_when_the_last_is_stale(client: FlaskClient) -> None:
    user = make_user(Role.INDEX_TEAM)
    sign_in(client, user)
    organisation = make_organisation()
    make_code_stale(user)
    response = client.post(
        f"/organisations/{organisation.id}/suspend",
        data={"reason": "A reason.", "csrf_token": page_csrf(client, "/organisations")},
    )
    assert response.status_code == 400 and "Enter a security code" in response.text
    db.session.expire_all()
    assert db.session.get(Organisation, organisation.id).accreditation_status is AccreditationStatus.ACCREDITED


def test_criteria_are_managed_by_the_index_team(client: FlaskClient) -> None:
    _index_team(client)
    token = page_csrf(client, "/accreditation/criteria")
    added = client.post(
        "/accreditation/criteria",
        data={"code": "cctv_policy", "title": "A CCTV policy", "mandatory": "y", "csrf_token": token},
    )
    assert added.status_code == 302
    duplicate = client.post(
        "/accreditation/criteria", data={"code": "cctv_policy", "title": "Again", "csrf_token": token}
    )
    assert duplicate.status_code == 400 and "already exists" in duplicate.text
    bad = client.post("/accreditation/criteria", data={"code": "Bad Code", "title": "x", "csrf_token": token})
    assert bad.status_code == 400
    criterion = db.session.scalar(select(Criterion).where(Criterion.code == "cctv_policy"))
    assert criterion.mandatory
    assert (
        client.post(f"/accreditation/criteria/{criterion.id}", data={"retired": "y", "csrf_token": token}).status_code
        == 302
    )
    db.session.expire_all()
    criterion = db.session.get(Criterion, criterion.id)
    assert criterion.retired and not criterion.mandatory
    assert len(_events(AuditTag.CRITERIA_CHANGE)) == 2


def test_a_line_manager_sees_their_own_staffs_use(client: FlaskClient, app: Flask) -> None:
    from tests.factories import make_child

    manager = make_user()
    worker = make_user(organisation=manager.organisation)
    worker.line_manager_id = manager.id
    stranger = make_user(organisation=manager.organisation)
    db.session.commit()
    child = make_child(is_shielded=True)
    theirs = app.test_client()
    sign_in(theirs, worker)
    theirs.get(f"/children/{child.index_id}")
    theirs.post(
        "/api/v1/children/search",
        json={"purpose": "case_work", "family_name": "Bennett", "date_of_birth": "2016-03-27"},
    )
    stranger_client = app.test_client()
    sign_in(stranger_client, stranger)
    stranger_client.get(f"/children/{child.index_id}")
    today = utcnow()
    wednesday = today - timedelta(days=(today.weekday() - 2) % 7)
    with owner_bypass(db.session.connection()):  # back-dated as only the database's owner could
        _events(AuditTag.RECORD_SEARCH)[-1].occurred_at = wednesday.replace(hour=22)  # out of hours
        for view in _events(AuditTag.RECORD_VIEW):
            view.occurred_at = wednesday.replace(hour=11)
        db.session.flush()
    db.session.commit()

    sign_in(client, manager)
    assert "My staff" in client.get("/", follow_redirects=True).text
    report = client.get("/my-staff")
    assert report.status_code == 200 and worker.email in report.text and stranger.email not in report.text
    row = report.text.split("Total")[1]
    assert [int(n) for n in re.findall(r"numeric\">(\d+)<", row)[:5]] == [1, 1, 1, 0, 1]
    assert _events(AuditTag.USAGE_REPORT_VIEW)[-1].target_ids == [str(worker.id)]
    bad = client.get("/my-staff?start=01/01/2020&end=01/01/2026")
    assert bad.status_code == 400 and "at most 92 days" in bad.text
    nonsense = client.get("/my-staff?start=yesterday")
    assert nonsense.status_code == 400

    assert "Nobody names you as their line manager" in stranger_client.get("/my-staff").text
