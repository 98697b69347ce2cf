"""Small factories with sensible defaults for the objects tests need."""

from __future__ import annotations

import itertools
import re
import time
from datetime import date, timedelta

from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from accreditation.permissions import Role
from index_service.accounts.operations import add_user, record_checks
from index_service.auth.models import User, UserSession
from index_service.auth.totp import code_at
from index_service.children.models import Child, Gender, Service
from index_service.children.records import AddressSpec, ChildSpec, InvolvementSpec, create_child
from index_service.database import utc_today, utcnow
from index_service.extensions import db
from index_service.organisation_models import Organisation, OrganisationType
from index_service.organisations.operations import accredit, add_organisation

PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_serial = itertools.count(1)


def make_organisation(
    name: str | None = None, kind: OrganisationType = OrganisationType.LOCAL_AUTHORITY, accredited: bool = True
) -> Organisation:
    """An organisation, accredited for a year unless asked otherwise."""
    organisation = add_organisation(name or f"Organisation {next(_serial)}", kind, "0113 000 0000")
    if accredited:
        accredit(organisation, utc_today() + timedelta(days=365))
    return organisation


def make_user(
    *roles: Role, organisation: Organisation | None = None, email: str | None = None, vetted: bool = True
) -> User:
    """A person who may sign in: vetted for a year, trained, approved, token enrolled, roles approved."""
    organisation = organisation or make_organisation()
    email = email or f"user{next(_serial)}@example.org"
    user = add_user(email, organisation, list(roles or (Role.PRACTITIONER,)), PASSWORD, "Test User")
    today = utc_today()
    if vetted:
        record_checks(user, today + timedelta(days=365), today - timedelta(days=30), today - timedelta(days=30))
    db.session.commit()
    return user


def make_child(organisations: dict[str, Organisation] | None = None, **overrides: object) -> Child:
    values: dict[str, object] = {
        "given_name": "Oliver",
        "family_name": "Bennett",
        "date_of_birth": date(2016, 3, 27),
        "gender": Gender.MALE,
        "address": AddressSpec("12 Meadow Lane", "Leeds", "LS6 2AB"),
        "carers": (("Sarah Bennett", "Mother", "07700 900123"),),
        "nhs_number": "9434765919",
    }
    values.update(overrides)
    if organisations is None:
        school = make_organisation(kind=OrganisationType.SCHOOL)
        organisations = {school.name: school}
        values.setdefault(
            "involvements",
            (
                InvolvementSpec(
                    Service.EDUCATION,
                    school.name,
                    "Class teacher",
                    "Ms Patel",
                    "0113 496 0101",
                    start_date=date(2021, 9, 1),
                ),
            ),
        )
    child = create_child(ChildSpec(**values), None, organisations)  # type: ignore[arg-type]
    db.session.commit()
    return child


def current_code(user: User, offset_steps: int = 0) -> str:
    assert user.totp_secret is not None, "the user has no token enrolled"
    return code_at(user.totp_secret, time.time() + 30 * offset_steps)


def submit_password(client: FlaskClient, email: str, password: str = PASSWORD) -> TestResponse:
    page = client.get("/sign-in")
    return client.post("/sign-in", data={"email": email, "password": password, "csrf_token": csrf_token(page.text)})


def submit_code(client: FlaskClient, code: str) -> TestResponse:
    page = client.get("/sign-in/code")
    return client.post("/sign-in/code", data={"code": code, "csrf_token": csrf_token(page.text)})


def sign_in(client: FlaskClient, user: User, offset_steps: int = 0) -> None:
    """A full sign-in: password, then a code."""
    assert submit_password(client, user.email).status_code == 302
    response = submit_code(client, current_code(user, offset_steps))
    assert response.status_code == 302, response.text


def page_csrf(client: FlaskClient, path: str = "/search") -> str:
    return csrf_token(client.get(path).text)


def home_csrf(client: FlaskClient) -> str:
    """A CSRF token from the signed-in user's home page, whatever their role (every page has one)."""
    return csrf_token(client.get("/", follow_redirects=True).text)


def csrf_token(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def wait_for_fresh_time_step(margin: float = 3.0) -> None:
    """Sleep past a 30-second boundary when one is near, so code-window tests are exact."""
    left = 30 - (time.time() % 30)
    if left < margin:
        time.sleep(left + 0.1)


def make_code_stale(user: User, minutes: int = 6) -> None:
    """Age the session's last accepted code, so the next account or token change asks for a fresh one."""
    for row in db.session.scalars(
        select(UserSession).where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
    ):
        row.data = {**row.data, "code_at": (utcnow() - timedelta(minutes=minutes)).isoformat()}
    db.session.commit()


def without_tokens(html: str) -> str:
    """The page without what changes on every response (its CSRF token and script nonce): what a
    check that a value is absent must read, or a random token may contain it."""
    html = re.sub(r'name="csrf_token" value="[^"]*"', 'name="csrf_token"', html)
    return re.sub(r'nonce="[^"]*"', "nonce", html)
