"""The access decision at sign-in and on every request: each refusal, its reason shown, and audited."""

from __future__ import annotations

from datetime import timedelta
from html import unescape

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from accreditation.access import AccreditationStatus
from index_service.audit.models import AuditEvent, AuditTag, Outcome
from index_service.auth.models import User
from index_service.database import utc_today, utcnow
from index_service.extensions import db
from index_service.organisation_models import Organisation
from tests.factories import current_code, make_organisation, make_user, sign_in, submit_code, submit_password


def _events(tag: AuditTag) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.tag == tag).order_by(AuditEvent.id)))


def _lapse_vetting(user: User) -> None:
    user.vetting_expires_on = utc_today()
    db.session.commit()


REFUSALS = {
    "unaccredited organisation": (
        lambda user: setattr(user.organisation, "accreditation_status", AccreditationStatus.PENDING),
        "Your organisation is not accredited",
    ),
    "suspended organisation": (
        lambda user: setattr(user.organisation, "accreditation_status", AccreditationStatus.SUSPENDED),
        "Your organisation's accreditation is suspended",
    ),
    "expired accreditation": (
        lambda user: setattr(user.organisation, "accredited_until", utc_today()),
        "Your organisation's accreditation has expired",
    ),
    "expired vetting": (_lapse_vetting, "Your enhanced vetting check has expired"),
    "no vetting": (lambda user: setattr(user, "vetting_expires_on", None), "No enhanced vetting check"),
    "incomplete training": (lambda user: setattr(user, "training_completed_on", None), "training is not recorded"),
    "no approval": (lambda user: setattr(user, "approved_on", None), "Your manager has not approved"),
    "suspended account": (lambda user: setattr(user, "suspended_at", utcnow()), "Your account is suspended"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_sign_in_is_refused_with_the_reason(client: FlaskClient, case: str) -> None:
    user = make_user()
    change, message = REFUSALS[case]
    change(user)
    db.session.commit()
    response = submit_password(client, user.email)
    assert response.status_code == 403 and message in unescape(response.text)
    assert client.get("/sign-in/code").status_code == 302, "no code step after a refusal"
    event = _events(AuditTag.LOGIN_FAILURE)[-1]
    assert event.user_id == user.id and event.outcome == Outcome.DENIED and event.details["reasons"]


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_lapse_mid_session_ends_access_at_once_with_the_reason(client: FlaskClient, case: str) -> None:
    user = make_user()
    sign_in(client, user)
    assert client.get("/search").status_code == 200
    change, message = REFUSALS[case]
    change(user)
    db.session.commit()
    response = client.get("/search")
    assert response.status_code == 302 and response.location.endswith("/sign-in")
    assert message in unescape(client.get("/sign-in").text)
    assert client.get("/search").status_code == 302, "the session is ended, not just refused once"
    lapsed = _events(AuditTag.ACCESS_LAPSED)
    assert lapsed and lapsed[-1].user_id == user.id and lapsed[-1].details["reasons"]


def test_the_api_says_why_access_ended(client: FlaskClient) -> None:
    user = make_user()
    sign_in(client, user)
    _lapse_vetting(user)
    response = client.post(
        "/api/v1/children/search", json={"purpose": "case_work", "family_name": "Smith", "date_of_birth": "2016-03-27"}
    )
    assert response.status_code == 401 and "vetting check has expired" in response.json["message"]


def test_every_reason_is_shown_together(client: FlaskClient) -> None:
    user = make_user()
    user.training_completed_on = None
    user.approved_on = None
    db.session.commit()
    text = unescape(submit_password(client, user.email).text)
    assert "training is not recorded" in text and "Your manager has not approved" in text


def test_a_wrong_password_reveals_nothing_about_access(client: FlaskClient) -> None:
    user = make_user()
    user.approved_on = None
    db.session.commit()
    response = submit_password(client, user.email, "a wrong password altogether")
    assert response.status_code == 401 and "approved" not in response.text


def test_access_lapsing_between_password_and_code_is_refused(client: FlaskClient) -> None:
    user = make_user()
    assert submit_password(client, user.email).status_code == 302
    _lapse_vetting(user)
    response = submit_code(client, current_code(user))
    assert response.status_code == 403 and "vetting check has expired" in response.text
    assert client.get("/search").status_code == 302


def test_an_unaccredited_organisations_staff_cannot_sign_in(client: FlaskClient) -> None:
    organisation = make_organisation(accredited=False)
    user = make_user(organisation=organisation)
    assert submit_password(client, user.email).status_code == 403
    assert db.session.get(Organisation, organisation.id).accreditation_status is AccreditationStatus.PENDING


def test_a_closed_account_is_refused_like_a_wrong_password(client: FlaskClient) -> None:
    user = make_user()
    user.is_active = False
    db.session.commit()
    response = submit_password(client, user.email)
    assert response.status_code == 401 and "Enter a correct email address and password" in response.text


def test_an_accreditation_renewed_in_time_keeps_access(client: FlaskClient) -> None:
    user = make_user()
    user.organisation.accredited_until = utc_today() + timedelta(days=1)
    db.session.commit()
    sign_in(client, user)
    assert client.get("/search").status_code == 200
