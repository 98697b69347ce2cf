"""Linking one's provider subject at the first sign-in through it, by proving the index password and code once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from index_service.audit.models import AuditTag, Outcome
from index_service.extensions import db
from index_service.identity.models import ProviderIdentity
from tests.factories import PASSWORD, csrf_token, current_code, make_organisation, make_user, submit_code
from tests.identity.provider import Provider, serving_provider
from tests.identity.test_provider_sign_in import events, linked_user, register, signed_in, through_provider

LINK = "/sign-in/organisation/link"


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with serving_provider() as running:
        yield running


@pytest.fixture(autouse=True)
def _new_subject(provider: Provider) -> None:
    provider.behaviour = {"sub": "subject-new", "amr": ["pwd"]}


def _prove(client: FlaskClient, email: str, password: str = PASSWORD) -> TestResponse:
    token = csrf_token(client.get(LINK).text)
    return client.post(LINK, data={"csrf_token": token, "email": email, "password": password})


def _links() -> list[tuple[str, int]]:
    return [(i.subject, i.user_id) for i in db.session.scalars(select(ProviderIdentity).order_by(ProviderIdentity.id))]


def test_password_and_code_link_the_subject_and_next_time_the_provider_is_enough(
    client: FlaskClient, provider: Provider
) -> None:
    idp = register(provider)
    user = make_user(organisation=idp.organisation)
    assert through_provider(client, idp).location.endswith(LINK)
    page = client.get(LINK)
    assert page.status_code == 200 and f"Link your {idp.organisation.name} sign-in" in page.text
    assert _prove(client, user.email).location.endswith("/sign-in/code")
    assert _links() == [] and not signed_in(client)  # the password alone links nothing
    assert submit_code(client, current_code(user)).status_code == 302 and signed_in(client)
    assert _links() == [("subject-new", user.id)]
    link = events(AuditTag.IDENTITY_LINK)[-1]
    assert link.user_id == user.id and link.details["by"] == "the user, at sign-in, with their password and code"
    success = events(AuditTag.LOGIN_SUCCESS)[-1]
    assert success.details == {
        "via": "identity provider",
        "provider_id": idp.id,
        "second_factor": "index code",
        "linked": "at this sign-in, by the index password and code",
    }
    other = client.application.test_client()
    assert through_provider(other, idp).location.endswith("/sign-in/code")  # linked: straight to the code
    assert len(events(AuditTag.IDENTITY_LINK)) == 1


def test_a_wrong_password_links_nothing_and_is_a_failed_sign_in(client: FlaskClient, provider: Provider) -> None:
    idp = register(provider)
    user = make_user(organisation=idp.organisation)
    through_provider(client, idp)
    refused = _prove(client, user.email, "not the password at all")
    assert refused.status_code == 401 and "Enter a correct email address and password" in refused.text
    failure = events(AuditTag.LOGIN_FAILURE)[-1]
    assert failure.user_id == user.id and failure.details["why"] == "wrong password"
    assert _links() == [] and not signed_in(client)


def test_a_user_of_another_organisation_cannot_link(client: FlaskClient, provider: Provider) -> None:
    idp = register(provider)
    outsider = make_user(organisation=make_organisation())
    through_provider(client, idp)
    refused = _prove(client, outsider.email)
    assert refused.status_code == 403 and "does not lead to a Child Index account" in refused.text
    event = events(AuditTag.LOGIN_OIDC_REFUSED)[-1]
    assert (event.details["why"], event.outcome, event.user_id) == (
        "linking: user of another organisation",
        Outcome.DENIED,
        outsider.id,
    )
    assert client.get("/sign-in/code").status_code == 302 and _links() == []


def test_a_user_linked_to_another_subject_cannot_link_a_second(client: FlaskClient, provider: Provider) -> None:
    idp = register(provider)
    user = linked_user(idp, "subject-old")
    through_provider(client, idp)
    refused = _prove(client, user.email)
    assert refused.status_code == 403
    assert events(AuditTag.LOGIN_OIDC_REFUSED)[-1].details["why"] == "linking: user already linked to another subject"
    assert _links() == [("subject-old", user.id)]


def test_the_link_page_needs_a_subject_the_provider_just_vouched_for(client: FlaskClient, provider: Provider) -> None:
    idp = register(provider)
    user = make_user(organisation=idp.organisation)
    page = client.get(LINK)
    assert page.status_code == 302 and page.location.endswith("/sign-in/organisation")
    token = csrf_token(client.get("/sign-in").text)
    posted = client.post(LINK, data={"csrf_token": token, "email": user.email, "password": PASSWORD})
    assert posted.status_code == 302 and posted.location.endswith("/sign-in/organisation")
    provider.behaviour = {"sub": "subject-new", "expires_in": -600}
    through_provider(client, idp)  # a refused token leaves nothing to link
    assert client.get(LINK).status_code == 302 and _links() == []
