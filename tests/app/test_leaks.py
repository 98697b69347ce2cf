"""The leak test: nothing that could lead to a shielded child's whereabouts leaves the service.

Shielded children are made with values found nowhere else (street, town, postcode, carer,
phone, NHS number, UPN, school, practitioner, the shielder's note). Then every route in the
app's URL map, and every operation of the OpenAPI document, is called by everyone who may not
see shielded records (each role, a holder of `override` whose overrides are used or expired,
a source system with a bearer token, and nobody at all), with every way of aiming at those
children: their index ids (right, mistyped, retired, formatted), searches by each field,
merges, reviews, reports, exports, overrides and forms. No response body or header may hold
any of the values, and no search that uses a shielded child's postcode may bring up that child.
Shielders and auditors are not callers here: seeing shielded records in full is their job (a
canary test checks that the same values are found when a shielder looks).

The routes are read from the URL map when the tests are collected, one test per endpoint, so a
new route is tested as soon as it exists; a route whose parameters the test cannot fill fails
rather than being skipped.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection, func, select
from werkzeug.datastructures import FileStorage
from werkzeug.routing import Rule
from werkzeug.test import TestResponse, encode_multipart

from accreditation.permissions import Role
from index_service import create_app
from index_service.auth.models import User
from index_service.children.merges import Merge, merge_children
from index_service.children.models import Child, Gender, IdentifierKind, Service, SourceIdentifier
from index_service.children.records import AddressSpec, ChildSpec, InvolvementSpec, create_child
from index_service.database import utcnow
from index_service.extensions import db
from index_service.index_ids import format_index_id
from index_service.load_models import Load, ReviewItem
from index_service.oauth.operations import register_client
from index_service.organisation_models import Criterion, Organisation, OrganisationType
from index_service.overrides import operations as overrides
from index_service.record_shielding import operations as shields
from index_service.scopes import Scope
from index_service.sources import uploads as uploads_module
from index_service.sources.loading.run import run_load
from index_service.sources.models import DataSource
from shielding.policy import OverrideReason, ShieldReason
from tests.database import empty_database
from tests.factories import csrf_token, home_csrf, make_organisation, make_user, page_csrf, sign_in
from tests.sources.loads import TODAY, load_file, make_source, row, uploads_kept_in, write_extract

SCHOOL = "Larkspur Hollow Primary School"
ACADEMY = "Saltmarsh Fen Academy"

OLDER = ChildSpec(
    given_name="Oriel",
    family_name="Penhallow",
    date_of_birth=date(2015, 8, 14),
    gender=Gender.FEMALE,
    address=AddressSpec("17 Quillfeather Mews", "Thornbury Wold", "ZE2 9XJ"),
    carers=(("Perpetua Hazelwick", "Mother", "07700 900417"),),
    nhs_number="4010237147",
    upn="Y938202441701",
    source_record_id="R-A-1",
    involvements=(
        InvolvementSpec(
            Service.EDUCATION,
            SCHOOL,
            "Class teacher",
            "Ms Ottoline Vantongeren",
            "0113 496 0417",
            "o.vantongeren@larkspur-hollow.example",
            start_date=date(2022, 9, 1),
        ),
    ),
    is_shielded=True,
)
YOUNGER = ChildSpec(
    given_name="Sable",
    family_name="Penhallow",
    date_of_birth=date(2018, 2, 3),
    gender=Gender.MALE,
    address=AddressSpec("17 Quillfeather Mews", "Thornbury Wold", "ZE2 9XJ"),
    carers=(("Perpetua Hazelwick", "Mother", "07700 900417"),),
    nhs_number="4010237155",
    source_record_id="R-B-1",
    is_shielded=True,
)
DUPLICATE = ChildSpec(
    given_name="Oriel",
    family_name="Penhallow",
    date_of_birth=date(2015, 8, 14),
    gender=Gender.FEMALE,
    address=AddressSpec("2 Brackenfold Row", "Thornbury Wold", "ZE2 9XL"),
    source_record_id="R-A-2",
    is_shielded=True,
)
ELSEWHERE = ChildSpec(
    given_name="Tamsin",
    family_name="Roskilly",
    date_of_birth=date(2013, 11, 30),
    gender=Gender.FEMALE,
    address=AddressSpec("4 Wyvernholt Close", "Gorsemoor Quay", "HS8 5QX"),
    carers=(("Grizelda Tregothnan", "Aunt", "07700 900862"),),
    nhs_number="4010237139",
    upn="K938202486203",
    source_record_id="R-C-1",
    involvements=(
        InvolvementSpec(
            Service.SOCIAL_CARE,
            ACADEMY,
            "Social worker",
            "Mr Lysander Quennell",
            "0113 496 0862",
            "l.quennell@saltmarsh-fen.example",
        ),
    ),
    is_shielded=True,
)
NOTE = "Kestrelrefuge placement agreed with the police"

SHIELDED_POSTCODES = ("ZE2 9XJ", "ZE29XJ", "ZE2 9XL", "ZE29XL", "HS8 5QX", "HS85QX")
# Every value a viewer without the right must never receive, in each form it might take.
DISTINCTIVE = (
    "Quillfeather",
    "Thornbury",
    "ZE2 9XJ",
    "ZE29XJ",
    "Brackenfold",
    "ZE2 9XL",
    "ZE29XL",
    "Wyvernholt",
    "Gorsemoor",
    "HS8 5QX",
    "HS85QX",
    "Hazelwick",
    "07700 900417",
    "07700900417",
    "Tregothnan",
    "07700 900862",
    "07700900862",
    "4010237147",
    "401 023 7147",
    "4010237155",
    "401 023 7155",
    "4010237139",
    "401 023 7139",
    "Y938202441701",
    "K938202486203",
    SCHOOL,
    "Larkspur",
    ACADEMY,
    "Saltmarsh",
    "Vantongeren",
    "0113 496 0417",
    "Quennell",
    "0113 496 0862",
    "Kestrelrefuge",
)
# Pages that list every organisation as a choice, whatever child they concern, and the index team's
# pages about one organisation's accreditation: the school's name alone says nothing about any child there.
ORGANISATION_DIRECTORIES = {
    "sources.register",
    "identity.register",
    "organisations.organisations",
    "organisations.organisation",
    "organisations.evidence",
    "organisations.accredit",
    "organisations.suspend",
}
ORGANISATION_NAMES = (SCHOOL, "Larkspur", ACADEMY, "Saltmarsh")

ECHO = re.compile(r'value="[^"]*"|<textarea[^>]*>[^<]*</textarea>', re.IGNORECASE)
QUERY_VALUES = {
    "kind": "delta",
    "dry_run": "true",
    "file_name": "extract.csv",
    "from": "2020-01-01",
    "to": "2030-12-31",
    "page": "1",
}
PAGE_QUERY = {"page": "1", "outcome": "linked", "refresh": "off"}


def _endpoints() -> list[Any]:
    """Every endpoint of the app, read when tests are collected; read-only ones first."""
    app = create_app()
    methods: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        methods.setdefault(rule.endpoint, set()).update((rule.methods or set()) - {"HEAD", "OPTIONS"})
    ordered = sorted(methods, key=lambda endpoint: (methods[endpoint] != {"GET"}, endpoint))
    return ordered


ENDPOINTS = _endpoints()


@dataclass
class Caller:
    """Someone calling the service: a signed-in role, a source system's token, or nobody."""

    name: str
    client: FlaskClient
    token: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class World:
    app: Flask
    callers: list[Caller]
    shielder: Caller
    parameters: dict[str, list[Any]]
    forms: list[dict[str, str]]
    searches: list[dict[str, str]]
    spec: dict[str, Any]
    fresh_callers: Any
    shielded_ids: list[str]


def _mistyped(index_id: str) -> str:
    return index_id[:-1] + ("0" if index_id[-1] != "0" else "1")


def _extract(tmp: Path) -> Path:
    """Rows that aim at the older child without carrying any of her hidden values."""
    linked = row(
        "R-A-1",
        given_name="Oriel",
        family_name="Penhallow",
        date_of_birth="2015-08-14",
        gender="f",
        address_line1="",
        town="",
        postcode="",
        parent_carer_name="",
        parent_carer_phone="",
    )
    resembling = row(
        "U-1",
        given_name="Oriell",
        family_name="Penhalow",
        date_of_birth="2015-08-14",
        gender="u",
        address_line1="9 Elm Road",
        town="Leeds",
        postcode="LS1 4AP",
        parent_carer_name="",
        parent_carer_phone="",
    )
    rejected = row("X-1", given_name="Oriel", family_name="Penhallow", date_of_birth="31/02/2015")
    return write_extract(tmp / "aimed.csv", [linked, resembling, rejected])


def _released(user: User) -> User:
    """The user detached with what sign-in reads, and no transaction left open.

    On SQLite every transaction takes the write lock (BEGIN IMMEDIATE), so the test must hold
    none while the app answers its requests.
    """
    _ = (user.email, user.totp_secret)
    db.session.expunge(user)
    db.session.commit()
    return user


def _signed_in(app: Flask, name: str, *roles: Role, organisation_id: int | None = None) -> Caller:
    client = app.test_client()
    organisation = db.session.get(Organisation, organisation_id) if organisation_id else None
    sign_in(client, _released(make_user(*roles, organisation=organisation)))
    return Caller(name, client, home_csrf(client))


def _acting_for_a_practitioner(caller: Caller) -> Caller:
    """The index team looks records up only for someone: start mediated access, as its lookups need."""
    started = caller.client.post(
        "/mediated-access",
        data={
            "csrf_token": caller.token,
            "practitioner_name": "Ms Dana Okafor",
            "practitioner_organisation": "Wexley Family Practice",
            "contact": "0161 496 0733",
        },
    )
    assert started.status_code == 302, started.text
    return caller


def _build(app: Flask, tmp: Path) -> World:
    council = make_organisation("Northfold Council")
    organisations = {name: make_organisation(name, OrganisationType.SCHOOL) for name in (SCHOOL, ACADEMY)}
    source = make_source("Northfold census", organisation=council)
    older, younger, duplicate, elsewhere = (
        create_child(spec, source, organisations) for spec in (OLDER, YOUNGER, DUPLICATE, ELSEWHERE)
    )
    db.session.commit()

    shielder_user = make_user(Role.SHIELDER)
    shields.shield(
        older, ShieldReason.DOMESTIC_ABUSE, NOTE, date.today() + timedelta(days=60), shielder_user, household=[younger]
    )
    admin = make_user(Role.DATA_ADMIN, organisation=council)
    merge_children(older, duplicate, admin)
    db.session.commit()
    load_file(source, _extract(tmp))

    override_user = make_user(Role.OVERRIDE)
    used = overrides.grant(
        older, OverrideReason.MISSING_CHILD, "The child is missing tonight; police ask.", override_user
    )
    used.viewed_at = utcnow()
    expired = overrides.grant(
        elsewhere, OverrideReason.IMMEDIATE_RISK, "Immediate risk reported by the school.", override_user
    )
    expired.expires_at = utcnow() - timedelta(minutes=1)
    registered, secret = register_client(source, [Scope.LOADS_WRITE])
    db.session.commit()

    loads = list(db.session.scalars(select(Load.id).where(Load.source_id == source.id)))
    items = list(db.session.scalars(select(ReviewItem.id).where(ReviewItem.source_id == source.id)))
    merges = list(db.session.scalars(select(Merge.id)))
    assert loads and items and merges, "the world must hold a load, a review item and a merge aimed at the children"
    parameters: dict[str, list[Any]] = {
        "index_id": [
            older.index_id,
            format_index_id(older.index_id).lower(),
            _mistyped(older.index_id),
            duplicate.index_id,
            elsewhere.index_id,
        ],
        "source_id": [source.id],
        "load_id": loads,
        "item_id": items,
        "merge_id": merges,
        "reference": [used.reference, expired.reference, "OVR-0000-0000"],
        "filename": ["app.css", "manifest.json"],
        # Accounts and organisations: someone else's account, and an organisation no caller belongs to.
        "user_id": [admin.id, override_user.id, 999_999],
        "organisation_id": [council.id, organisations[SCHOOL].id, 999_999],
        "criterion_id": [db.session.scalar(select(func.min(Criterion.id))), 999_999],
        "provider_id": [1],
        "identity_id": [1],
    }
    searches = [
        {"family_name": "Penhallow", "date_of_birth": "14/08/2015"},
        {"family_name": "Penhallow", "given_name": "Oriel", "postcode": "ZE2 9XJ"},
        {"family_name": "Penhallow", "given_name": "Sable", "postcode": "ZE29XJ"},
        {"family_name": "Roskilly", "given_name": "Tamsin", "postcode": "HS8 5QX"},
        {"family_name": "Penhallow", "given_name": "Oriel", "postcode": "ZE2 9XL"},
        {"nhs_number": "4010237147"},
        {"upn": "Y938202441701"},
        {"index_id": older.index_id},
        {"index_id": _mistyped(older.index_id)},
        {"index_id": duplicate.index_id},
        {"nhs_number": "4010237139", "postcode": "HS8 5QX", "family_name": "Roskilly"},
    ]
    searches = [{"purpose": "case_work", **search} for search in searches]
    # The last form leaves the source active, so the routes called after set_active still find it so.
    forms = [
        {},
        *searches,
        {"kept": older.index_id, "retired": elsewhere.index_id},
        {"email": "nobody@example.org", "password": "not the password", "code": "123456"},
        {
            "index_id": older.index_id,
            "reason": "missing_child",
            "justification": "A child is missing right now.",
            "code": "000000",
            "note": "Checking the record for the review.",
            "review_date": "01/01/2030",
            "outcome": "justified",
            "household": younger.index_id,
            "active": "1",
        },
    ]
    council_id, client_id = council.id, registered.client_id
    shielded_ids = [child.index_id for child in (older, younger, duplicate, elsewhere)]
    _released(override_user)

    def fresh_callers() -> list[Caller]:
        """Signed in anew: for routes that end the session they are called with."""
        return [
            _signed_in(app, "practitioner", Role.PRACTITIONER),
            _acting_for_a_practitioner(_signed_in(app, "index team", Role.INDEX_TEAM)),
            _signed_in(app, "data administrator", Role.DATA_ADMIN, organisation_id=council_id),
            _signed_in(app, "user administrator", Role.USER_ADMIN),
        ]

    callers = fresh_callers()
    override_client = app.test_client()
    sign_in(override_client, override_user)
    callers.append(Caller("override holder", override_client, home_csrf(override_client)))
    anonymous = app.test_client()
    callers.append(Caller("nobody", anonymous, csrf_token(anonymous.get("/sign-in").text)))
    system = app.test_client()
    issued = system.post(
        "/api/v1/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic " + _basic(client_id, secret)},
    )
    assert issued.status_code == 200, issued.text
    bearer = {"Authorization": f"Bearer {issued.json['access_token']}"}
    callers.append(Caller("source system", system, None, bearer))
    spec = callers[0].client.get("/api/v1/openapi.json").json
    shielder_caller = _signed_in(app, "shielder", Role.SHIELDER)
    return World(app, callers, shielder_caller, parameters, forms, searches, spec, fresh_callers, shielded_ids)


def _basic(client_id: str, secret: str) -> str:
    return base64.b64encode(f"{client_id}:{secret}".encode()).decode()


@pytest.fixture(scope="module")
def world(migrated_app: Flask, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The shielded children and everyone calling, committed once for every endpoint's test; emptied after."""
    tmp = tmp_path_factory.mktemp("leaks")
    uploads = tmp / "uploads"
    uploads.mkdir()
    with migrated_app.app_context(), pytest.MonkeyPatch.context() as patch:
        patch.setitem(migrated_app.config, "LOADS_RUN_INLINE", True)
        patch.setitem(migrated_app.config, "ADDRESS_LOCKOUT_FAILURES", 100_000)
        patch.setattr(uploads_module, "upload_folder", lambda: uploads)
        try:
            built = _build(migrated_app, tmp)
            db.session.commit()
            db.session.remove()  # hold no transaction (nor SQLite's lock) while the requests run
            yield built
        finally:
            db.session.remove()
            with db.engine.begin() as connection:
                empty_database(connection)


# Building the requests.


def _openapi_path(rule: Rule) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)


def _paths(world: World, rule: Rule) -> list[str]:
    """The rule's URL for every value of each of its parameters aimed at the shielded children."""
    unknown = set(rule.arguments) - set(world.parameters)
    if unknown:
        pytest.fail(
            f"{rule.endpoint} ({rule.rule}): the leak test does not know how to fill {sorted(unknown)}; "
            "add values aimed at the shielded children to World.parameters"
        )
    combinations: list[dict[str, Any]] = [{}]
    for name in sorted(rule.arguments):
        combinations = [{**chosen, name: value} for chosen in combinations for value in world.parameters[name]]
    return [rule.build(values, append_unknown=False)[1] for values in combinations]


def _schema(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    reference = schema.get("$ref")
    if reference:
        return spec["components"]["schemas"][reference.rsplit("/", 1)[-1]]
    return schema


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    kwargs: dict[str, Any]
    sent: str
    baseline: bool = False  # the same route with an empty form or body: what it shows regardless


def _api_calls(world: World, rule: Rule, method: str, path: str) -> list[Call]:
    """The calls an API operation takes, built from its OpenAPI description."""
    operation = world.spec["paths"].get(_openapi_path(rule), {}).get(method.lower())
    if operation is None:
        if rule.endpoint == "api-docs.openapi_json":
            return [Call(method, path, {}, path)]
        pytest.fail(f"{method} {rule.rule} is not in the OpenAPI document")
    query = {}
    for parameter in operation.get("parameters", []):
        if parameter["in"] != "query":
            continue
        if parameter["name"] not in QUERY_VALUES:
            pytest.fail(
                f"{method} {rule.rule}: the leak test does not know how to fill the query parameter {parameter['name']}"
            )
        query[parameter["name"]] = QUERY_VALUES[parameter["name"]]
    url = path + ("?" + urlencode(query) if query else "")
    content = operation.get("requestBody", {}).get("content", {})
    if not content:
        return [Call(method, url, {}, url)]
    calls = []
    for content_type, media in content.items():
        schema = _schema(world.spec, media.get("schema", {}))
        if content_type == "application/json":
            properties, required = set(schema.get("properties", {})), set(schema.get("required", []))
            bodies = [{k: v for k, v in form.items() if k in properties} for form in world.forms]
            bodies = [body for body in bodies if body and required <= set(body)]
            if not bodies:
                pytest.fail(f"{method} {rule.rule}: no JSON body aimed at the children fits {sorted(properties)}")
            calls.append(Call(method, url, {"json": {}}, url, baseline=True))
            calls += [Call(method, url, {"json": body}, url + json.dumps(body)) for body in bodies]
        elif content_type == "application/x-www-form-urlencoded":
            form = {"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"}
            calls.append(Call(method, url, {"data": form}, url + str(form)))
        elif content_type in ("text/csv", "application/x-ndjson", "application/jsonl"):
            named = {**query, "file_name": "extract.csv" if content_type == "text/csv" else "extract.jsonl"}
            aimed = path + "?" + urlencode(named if "file_name" in query else query)
            calls.append(
                Call(method, aimed, {"data": _aimed_extract(content_type), "content_type": content_type}, aimed)
            )
        else:
            pytest.fail(f"{method} {rule.rule}: the leak test does not know how to send {content_type}")
    return calls


def _aimed_extract(content_type: str) -> bytes:
    record = {
        "source_record_id": "R-A-1",
        "given_name": "Oriel",
        "family_name": "Penhallow",
        "date_of_birth": "2015-08-14",
        "gender": "f",
    }
    if content_type == "text/csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(record))
        writer.writeheader()
        writer.writerow(record)
        return out.getvalue().encode()
    return (json.dumps(record) + "\n").encode()


def _web_calls(world: World, method: str, path: str) -> list[Call]:
    if method == "GET":
        query = path + "?" + urlencode(PAGE_QUERY)
        return [Call(method, path, {}, path), Call(method, query, {}, query)]
    return [Call(method, path, {"data": form}, path + str(form), baseline=not form) for form in world.forms]


def _calls(world: World, endpoint: str) -> list[Call]:
    calls = []
    for rule in world.app.url_map.iter_rules(endpoint):
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            for path in _paths(world, rule):
                if rule.rule.startswith("/api/"):
                    calls += _api_calls(world, rule, method, path)
                else:
                    calls += _web_calls(world, method, path)
    assert calls, f"{endpoint} has no route to call"
    return calls


# Calling and checking.


@dataclass(frozen=True)
class Leak:
    caller: str
    call: str
    status: int
    value: str


def _found(response: TestResponse, call: Call, allowed: tuple[str, ...] = ()) -> list[str]:
    """The distinctive values in the response; what the caller typed may come back in its own form fields."""
    body = response.get_data(as_text=True)
    headers = "\n".join(f"{name}: {value}" for name, value in response.headers.items())
    whole = (body + "\n" + headers).lower()
    echo_free = ECHO.sub("", whole)
    found = []
    for value in DISTINCTIVE:
        needle = value.lower()
        if value in allowed:
            continue
        haystack = echo_free if needle in call.sent.lower() else whole
        if needle in haystack:
            found.append(value)
    return found


def _ids_shown(response: TestResponse, index_ids: list[str]) -> set[str]:
    """The shielded children's index ids in the response, outside the caller's own form fields."""
    text = ECHO.sub("", response.get_data(as_text=True).lower())
    return {index_id for index_id in index_ids if index_id.lower() in text or format_index_id(index_id).lower() in text}


def _call(caller: Caller, call: Call) -> TestResponse:
    kwargs = dict(call.kwargs)
    if "data" in kwargs and isinstance(kwargs["data"], dict) and caller.token:
        kwargs["data"] = {**kwargs["data"], "csrf_token": caller.token}
    return caller.client.open(call.path, method=call.method, headers=caller.headers, buffered=True, **kwargs)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_no_route_leaks_a_shielded_childs_details(world: World, endpoint: str) -> None:
    callers = world.fresh_callers() if endpoint in ("auth.logout", "mediated.end") else world.callers
    allowed = ORGANISATION_NAMES if endpoint in ORGANISATION_DIRECTORIES else ()
    leaks: list[Leak] = []
    failures: list[str] = []
    baselines: dict[tuple[str, str, str], set[str]] = {}
    for call in _calls(world, endpoint):
        by_postcode = any(postcode.lower() in call.sent.lower() for postcode in SHIELDED_POSTCODES)
        for caller in callers:
            response = _call(caller, call)
            if response.status_code >= 500:
                failures.append(f"{caller.name}: {call.method} {call.path} answered {response.status_code}")
            leaks += [
                Leak(caller.name, f"{call.method} {call.sent}", response.status_code, value)
                for value in _found(response, call, allowed)
            ]
            # A postcode must never confirm where a shielded child lives: no child it brings up beyond
            # those the route shows anyway.
            key = (caller.name, call.method, call.path.split("?")[0])
            shown = _ids_shown(response, world.shielded_ids)
            if call.baseline:
                baselines[key] = shown
            elif by_postcode:
                leaks += [
                    Leak(
                        caller.name,
                        f"{call.method} {call.sent}",
                        response.status_code,
                        f"index id {index_id}, found by its postcode",
                    )
                    for index_id in shown - baselines.get(key, set())
                ]
    report = "\n".join(f"  {leak.caller}: {leak.call} ({leak.status}) showed {leak.value!r}" for leak in leaks[:40])
    assert not leaks, f"{endpoint} leaks a shielded child's details {len(leaks)} time(s):\n{report}"
    assert not failures, "\n".join(failures)


def test_the_checks_see_the_values_when_they_are_shown(world: World) -> None:
    """The canary: a shielder sees the same pages in full, so an empty finding above is not an accident."""
    older = world.parameters["index_id"][0]
    call = Call("GET", f"/children/{older}", {}, f"/children/{older}")
    shown = _found(_call(world.shielder, call), call)
    assert {
        "Quillfeather",
        "ZE2 9XJ",
        "Hazelwick",
        "4010237147",
        "Y938202441701",
        SCHOOL,
        "Vantongeren",
        "Kestrelrefuge",
    } <= set(shown)
    search = Call("POST", "/api/v1/children/search", {"json": world.searches[0]}, "")
    assert "ZE2 9XJ" in _found(_call(world.shielder, search), search)


def test_every_api_operation_in_the_openapi_document_is_a_route(world: World) -> None:
    routes = {
        (_openapi_path(rule), method.lower())
        for rule in world.app.url_map.iter_rules()
        for method in rule.methods or ()
    }
    operations = {
        (path, method)
        for path, item in world.spec["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert operations and operations <= routes


def test_the_endpoints_tested_are_the_apps(world: World) -> None:
    tested = {param.values[0] if hasattr(param, "values") else param for param in ENDPOINTS}
    assert tested == {rule.endpoint for rule in world.app.url_map.iter_rules()}
    assert {"shields.shield", "overrides.view", "overrides.dashboard", "children_api.search"} <= tested


def test_the_world_holds_shielded_children(world: World) -> None:
    with world.app.app_context():
        shielded = db.session.scalars(select(Child.index_id).where(Child.is_shielded.is_(True))).all()
        sources = db.session.scalars(select(DataSource.name)).all()
        db.session.remove()
    assert world.parameters["index_id"][0] in shielded and world.parameters["index_id"][-1] in shielded
    assert "Northfold census" in sources


# The oracle: a row that lands on a shielded record answers the same whatever it guesses.
#
# A source sent a record of a shielded child before; another organisation's source supplied where
# she lives and who cares for her. The first source's data administrator sends rows for her with
# a right and a wrong guess of each hidden value, by page, command line and API, as dry runs and
# as loads. Every answer (report rows, summary counts, pages, the review queue) must be the same.

HIDDEN = ChildSpec(
    given_name="Isolde",
    family_name="Trevanion",
    date_of_birth=date(2016, 5, 9),
    gender=Gender.FEMALE,
    address=AddressSpec("3 Gannetwick Steps", "Porthgwidden", "TR19 7QZ"),
    carers=(("Morwenna Tregarthen", "Mother", "07700 900531"),),
    nhs_number="4729133064",
    source_record_id="H-1",
    is_shielded=True,
)
IDENTITY = {
    "given_name": "Isolde",
    "family_name": "Trevanion",
    "date_of_birth": "2016-05-09",
    "gender": "f",
    "address_line1": "",
    "town": "",
    "postcode": "",
    "parent_carer_name": "",
    "parent_carer_phone": "",
}
# Each hidden value: the right guess and a wrong one (a phone is guessed with the carer's name right).
GUESSES: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "postcode": ({"postcode": "TR19 7QZ"}, {"postcode": "TR19 7QY"}),
    "address line 1": ({"address_line1": "3 Gannetwick Steps"}, {"address_line1": "3 Kittiwake Steps"}),
    "address": (
        {"address_line1": "3 Gannetwick Steps", "town": "Porthgwidden", "postcode": "TR19 7QZ"},
        {"address_line1": "3 Gannetwick Steps", "town": "Porthgwidden", "postcode": "TR19 7QY"},
    ),
    "carer name": ({"parent_carer_name": "Morwenna Tregarthen"}, {"parent_carer_name": "Morwenna Tregarthan"}),
    "carer phone": (
        {"parent_carer_name": "Morwenna Tregarthen", "parent_carer_phone": "07700 900531"},
        {"parent_carer_name": "Morwenna Tregarthen", "parent_carer_phone": "07700 900532"},
    ),
    "NHS number": ({"nhs_number": "4729133064"}, {"nhs_number": "4729133072"}),
}
# By the source record id it sent before, and by matching alone (a record id it never sent).
AIMS = {"known": "K-7", "matched": "K-8"}
VOLATILE = (
    re.compile(r'name="csrf_token"[^>]*>|nonce="[^"]*"'),
    re.compile(r"\b\d{4}-\d\d-\d\d[T ][\d:.+]+(Z|\+00:00)?"),  # times
    re.compile(r"\b\d{1,2} [A-Z][a-z]+ \d{4}(,? (at )?\d{1,2}[:.]\d\d(am|pm)?)?"),  # times as pages write them
    re.compile(r"\b\d{1,2}[:.]\d\d(:\d\d)?\s*(am|pm)?"),
    re.compile(r"(less than a minute|\d+ (hour|minute|second)s?)"),
    re.compile(r"\d+ rows/s|\d+m\d\ds left"),  # the command's progress bar
)


@dataclass
class Oracle:
    """The shielded child, the source that sent her before, and its data administrator by page,
    command line and API."""

    source_id: int
    source_name: str
    web: FlaskClient
    bearer: dict[str, str]
    folder: Path


@pytest.fixture
def oracle(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Oracle:
    uploads_kept_in(tmp_path / "uploads", app, monkeypatch)
    health = make_source("Porthgwidden health visiting", organisation=make_organisation("Porthgwidden Trust"))
    council = make_organisation("Penwith Council")
    source = make_source("Penwith census", organisation=council)
    child = create_child(HIDDEN, health, {})
    child.identifiers.append(SourceIdentifier(kind=IdentifierKind.SOURCE_RECORD, value=AIMS["known"], source=source))
    db.session.commit()
    # Sent before: the record id, and the involvement the source's rows give her.
    load_file(source, write_extract(tmp_path / "before.csv", [row(AIMS["known"], **IDENTITY)]))
    web = app.test_client()
    sign_in(web, make_user(Role.DATA_ADMIN, organisation=council))
    registered, secret = register_client(source, [Scope.LOADS_WRITE])
    db.session.commit()
    issued = app.test_client().post(
        "/api/v1/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic " + _basic(registered.client_id, secret)},
    )
    assert issued.status_code == 200, issued.text
    return Oracle(source.id, source.name, web, {"Authorization": f"Bearer {issued.json['access_token']}"}, tmp_path)


@contextmanager
def _undone() -> Iterator[None]:
    """Whatever happens inside is undone after: each guess meets the index as it was."""
    db.session.commit()
    connection = db.session.get_bind()
    assert isinstance(connection, Connection)  # the test's own, holding the test's transaction
    savepoint = connection.begin_nested()
    try:
        yield
    finally:
        db.session.remove()
        savepoint.rollback()


def _steady(text: str, load_id: int) -> str:
    """The answer without what differs from one load to the next whatever its rows: its id, times, tokens."""
    text = re.sub(rf'(/loads/|[Ll]oad |[Rr]un |load_id"?\s*[:=]\s*){load_id}\b', r"\1LOAD", text)
    text = re.sub(r"Report written to \S+", "Report written", text)
    for volatile in VOLATILE:
        text = volatile.sub("~", text)
    return text


def _extract_of(oracle: Oracle, aim: str, guess: dict[str, str], name: str) -> Path:
    folder = oracle.folder / name
    folder.mkdir(exist_ok=True)
    # By matching, a mistyped given name: enough to link were she not shielded, not so much that where
    # she lives cannot tip it.
    typed = {"given_name": "Isolda"} if aim == "matched" else {}
    return write_extract(folder / "guess.csv", [row(AIMS[aim], **{**IDENTITY, **typed, **guess})])


def _run(load_id: int) -> None:
    """Run the load the page or API queued (the worker's part: these tests start no processes)."""
    db.session.expire_all()
    run_load(db.session.get_one(Load, load_id), today=TODAY)
    db.session.remove()


def _by_page(oracle: Oracle, path: Path, dry_run: bool) -> list[str]:
    form = f"/data/sources/{oracle.source_id}/loads/new"
    data = {
        "kind": "delta",
        "action": "check" if dry_run else "load",
        "csrf_token": page_csrf(oracle.web, form),
        "extract": FileStorage(io.BytesIO(path.read_bytes()), "guess.csv"),
    }
    boundary, body = encode_multipart(data)
    posted = oracle.web.post(form, data=body, content_type=f"multipart/form-data; boundary={boundary}")
    assert posted.status_code == 302, posted.text
    load_id = int(posted.location.rsplit("/", 1)[-1])
    _run(load_id)
    pages = [
        f"/data/loads/{load_id}",
        f"/data/loads/{load_id}/report",
        f"/data/loads/{load_id}/report.csv",
        "/data/review",
        "/data",
        f"/data/sources/{oracle.source_id}",
    ]
    return [_steady(oracle.web.get(page, buffered=True).get_data(as_text=True), load_id) for page in pages]


def _by_command(app: Flask, oracle: Oracle, path: Path, dry_run: bool) -> list[str]:
    report = path.with_suffix(".report.csv")
    ran = app.test_cli_runner().invoke(
        args=[
            "sources",
            "load",
            oracle.source_name,
            str(path),
            "--report",
            str(report),
            *(["--dry-run"] if dry_run else []),
        ]
    )
    assert ran.exit_code == 0, ran.output
    load_id = db.session.scalar(select(func.max(Load.id)))
    assert load_id is not None
    return [_steady(ran.output, load_id), _steady(report.read_text(), load_id)]


def _by_api(oracle: Oracle, path: Path, dry_run: bool) -> list[str]:
    client = oracle.web.application.test_client()
    posted = client.post(
        f"/api/v1/sources/{oracle.source_id}/loads",
        data=path.read_bytes(),
        content_type="text/csv",
        headers=oracle.bearer,
        query_string={"dry_run": str(dry_run).lower(), "file_name": "guess.csv"},
    )
    assert posted.status_code == 202, posted.text
    load_id = posted.json["load_id"]
    _run(load_id)
    status = client.get(posted.json["status_url"], headers=oracle.bearer)
    report = client.get(posted.json["report_url"], headers=oracle.bearer, buffered=True)
    return [
        _steady(text, load_id)
        for text in (posted.get_data(as_text=True), status.get_data(as_text=True), report.get_data(as_text=True))
    ]


def _answers(app: Flask, oracle: Oracle, aim: str, guess: dict[str, str], name: str) -> dict[str, list[str]]:
    """Everything the source's people are told about one row with this guess, each way it can be sent."""
    path = _extract_of(oracle, aim, guess, name)
    answers: dict[str, list[str]] = {}
    for dry_run in (True, False):
        mode = "dry run" if dry_run else "load"
        with _undone():
            answers[f"{mode} by page"] = _by_page(oracle, path, dry_run)
        with _undone():
            answers[f"{mode} by command"] = _by_command(app, oracle, path, dry_run)
        with _undone():
            answers[f"{mode} by API"] = _by_api(oracle, path, dry_run)
    return answers


# An NHS number names who the child is, not where she lives: a row that matches a shielded child on
# names and date of birth goes to review with another NHS number (or none), and links to her with
# hers, so matching alone is not asked to hide it. Sent under a record id the source sent before,
# it must be hidden like the rest.
CASES = [
    (aim, hidden) for aim in sorted(AIMS) for hidden in sorted(GUESSES) if (aim, hidden) != ("matched", "NHS number")
]


@pytest.mark.parametrize(("aim", "hidden"), CASES)
def test_a_row_on_a_shielded_record_answers_the_same_whatever_it_guesses(
    app: Flask,
    oracle: Oracle,
    aim: str,
    hidden: str,
) -> None:
    right, wrong = GUESSES[hidden]
    told_right = _answers(app, oracle, aim, right, "right")
    told_wrong = _answers(app, oracle, aim, wrong, "wrong")
    differ = [way for way in told_right if told_right[way] != told_wrong[way]]
    first = differ[0] if differ else None
    detail = (
        ""
        if first is None
        else "\n".join(
            f"  right: {a[:600]!r}\n  wrong: {b[:600]!r}"
            for a, b in zip(told_right[first], told_wrong[first], strict=True)
            if a != b
        )
    )
    assert not differ, f"a {hidden} guessed right and wrong answer differently: {differ}\n{detail}"
    # Not an accident of empty answers: the row landed on her record (by the record id sent
    # before), or by matching alone went to review (no link to a shielded record without a shared
    # NHS number or UPN), and said no more than that.
    landed = "shielded" if aim == "known" else "review"
    assert f"1,{AIMS[aim]},{landed}," in told_right["load by command"][1]
