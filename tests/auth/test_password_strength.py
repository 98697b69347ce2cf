"""Password strength: zxcvbn refuses what a list of whole passwords let through (a common password with
digits or a year added, keyboard walks, sequences, the person's own name, email or organisation),
saying why, wherever a person or an operator chooses one; generated one-time passwords always pass."""

from __future__ import annotations

import re
import time
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from accreditation.permissions import Role
from index_service.auth.models import User
from index_service.auth.passwords import (
    ESTIMATED_LENGTH,
    MAX_PASSWORD_LENGTH,
    OWN_DETAILS,
    password_problem,
    random_password,
)
from index_service.extensions import db
from tests.factories import (
    PASSWORD,
    current_code,
    make_organisation,
    make_user,
    page_csrf,
    sign_in,
    submit_code,
    submit_password,
)

# Each is 12 characters or more, so the length rule alone accepted it, and none is in the list of
# 10,000 common passwords the rule used before.
GUESSABLE = {
    "password1234": "very common password",
    "Password2024!": "similar to a commonly used password",
    "football1999": "similar to a commonly used password",
    "qwertyuiop12": "similar to a commonly used password",
    "asdfghjkl;123": "Straight rows of keys",
    "abcdefghijklm": "Sequences like",
    "abc123abc123": "Repeats like",
    "zzzzzzzzzzzzzz": "Repeats like",
}
SOUND = [
    "correct horse battery staple",
    "plum kettle orbit thistle",
    "lantern meadow copper quill",
    "a long enough password",
    "Tr0ub4dor&3 skylark",
]


@pytest.mark.parametrize("password", list(GUESSABLE))
def test_guessable_passwords_that_pass_the_length_rule_are_refused_saying_why(password: str) -> None:
    problem = password_problem(password)
    assert problem is not None and problem.startswith("This password would be easy to guess."), problem
    assert GUESSABLE[password] in problem


@pytest.mark.parametrize("password", SOUND)
def test_sound_passwords_and_passphrases_are_accepted(password: str) -> None:
    assert password_problem(password, "sam.okoro@example.org", ["Sam Okoro", "Leeds City Council"]) is None


def test_the_persons_own_name_email_and_organisation_are_refused_even_with_digits_added() -> None:
    email, inputs = "oliver.bennett@leeds.gov.uk", ["Oliver Bennett", "Leeds City Council"]
    for password in ("OliverBennett1", "oliver.bennett1986", "leedscitycouncil2024", "Leeds City Council 1"):
        problem = password_problem(password, email, inputs)
        assert problem is not None and OWN_DETAILS in problem, password
    assert password_problem("leedscitycouncil2024") is None, "refused above only because they are this person's details"
    own_email = password_problem("oliver.bennett@leeds.gov.uk", email, inputs)
    assert own_email == "The password must not be your email address"


def test_the_length_rules_still_come_first() -> None:
    assert password_problem("Zq8#kLm2") == "The password must be at least 12 characters"
    assert password_problem("plum kettle " * 20) == f"The password must be {MAX_PASSWORD_LENGTH} characters or fewer"


def test_a_long_password_is_estimated_on_its_first_characters_only_and_quickly() -> None:
    """Up to MAX_PASSWORD_LENGTH characters are allowed, but zxcvbn sees ESTIMATED_LENGTH of them."""
    weak_start = "a" * ESTIMATED_LENGTH + "plum kettle orbit thistle"
    started = time.perf_counter()
    problem = password_problem(weak_start)
    assert problem is not None and "Repeats like" in problem
    assert password_problem("plum kettle orbit thistle " * 7) is None
    # A worst case for zxcvbn's matching: long, repetitive, many overlapping patterns.
    password_problem(("qwerty1234" * 20)[:MAX_PASSWORD_LENGTH])
    assert time.perf_counter() - started < 5


def test_generated_one_time_passwords_always_pass() -> None:
    for _ in range(300):
        password = random_password()
        assert password_problem(password) is None, password


def test_changing_ones_password_refuses_a_guessable_one_with_zxcvbns_reasons(client: FlaskClient) -> None:
    organisation = make_organisation("Wakefield Council")
    user = make_user(organisation=organisation, email="dana.price@example.org")
    sign_in(client, user)
    token = page_csrf(client, "/account/password")
    for new, reason in (
        ("password1234", "This is a very common password."),
        ("qwertyuiop12", "This is similar to a commonly used password."),
        ("WakefieldCouncil1", OWN_DETAILS),
        ("DanaPrice2024!", OWN_DETAILS),
    ):
        response = client.post(
            "/account/password",
            data={"current_password": PASSWORD, "new_password": new, "confirm_password": new, "csrf_token": token},
        )
        assert response.status_code == 400, new
        assert "This password would be easy to guess." in unescape(response.text), new
        assert reason in unescape(response.text), new
    db.session.expire_all()
    assert db.session.get(User, user.id).password_hash == user.password_hash


def test_the_first_sign_in_after_a_reset_refuses_a_guessable_password(client: FlaskClient, app: Flask) -> None:
    admin = make_user(Role.USER_ADMIN)
    sign_in(client, admin)
    person = make_user(organisation=admin.organisation)
    response = client.post(f"/users/{person.id}/password", data={"csrf_token": page_csrf(client, "/users")})
    found = re.search(r'id="one-time-password">([^<]+)<', response.text)
    assert found, response.text
    one_time = unescape(found.group(1))
    assert password_problem(one_time) is None
    theirs = app.test_client()
    assert submit_password(theirs, person.email, one_time).status_code == 302
    assert submit_code(theirs, current_code(person)).status_code == 302
    token = page_csrf(theirs, "/account/password")
    refused = theirs.post(
        "/account/password",
        data={
            "current_password": one_time,
            "new_password": "password2024",
            "confirm_password": "password2024",
            "csrf_token": token,
        },
    )
    assert refused.status_code == 400 and "easy to guess" in refused.text
    assert theirs.get("/search").location.endswith("/account/password"), "still must change it"


def test_the_command_line_refuses_a_guessable_password_and_the_persons_own_details(app: Flask) -> None:
    runner = app.test_cli_runner()
    runner.invoke(args=["orgs", "add", "Calderdale Council", "--type", "local_authority"])
    for password in ("password1234", "CalderdaleCouncil99", "RobinHale1980"):
        result = runner.invoke(
            args=[
                "users",
                "add",
                "robin.hale@example.org",
                "--org",
                "Calderdale Council",
                "--role",
                "practitioner",
                "--name",
                "Robin Hale",
                "--password-stdin",
            ],
            input=password + "\n",
        )
        assert result.exit_code != 0 and "easy to guess" in result.output, (password, result.output)
    assert db.session.scalar(select(func.count()).select_from(User)) == 0
    accepted = runner.invoke(
        args=[
            "users",
            "add",
            "robin.hale@example.org",
            "--org",
            "Calderdale Council",
            "--role",
            "practitioner",
            "--name",
            "Robin Hale",
            "--password-stdin",
        ],
        input="heron quarry velvet anchor\n",
    )
    assert accepted.exit_code == 0, accepted.output
