"""Demo data: organisations, one user of each role, and synthetic children (demo only)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from accreditation.permissions import Role
from index_service.accounts.operations import add_user, record_checks
from index_service.auth.passwords import random_password
from index_service.auth.totp import provisioning_uri
from index_service.children.models import Service
from index_service.children.records import create_child
from index_service.database import utc_today
from index_service.extensions import db
from index_service.organisations.operations import accredit, add_organisation
from index_service.sources.models import DataSource, SourceKind
from index_service.synthetic import ORGANISATIONS, ChildFactory

USERS = (
    (Role.PRACTITIONER, "Leeds Community Healthcare NHS Trust"),
    (Role.DATA_ADMIN, "Leeds City Council Children's Social Work Service"),
    (Role.USER_ADMIN, "Leeds City Council Children's Social Work Service"),
    (Role.SHIELDER, "Child Index National Team"),
    (Role.AUDITOR, "Child Index National Team"),
    (Role.INDEX_TEAM, "Child Index National Team"),
    (Role.OVERRIDE, "Leeds Community Healthcare NHS Trust"),
)
PROGRESS_EVERY = 250


def load_demo(count: int, progress: Callable[[int], None] = lambda done: None) -> list[str]:
    """Create the demo data; returns the sign-in details to print (demo only)."""
    organisations = {spec.name: add_organisation(spec.name, spec.type, spec.phone) for spec in ORGANISATIONS}
    today = utc_today()
    for organisation in organisations.values():
        accredit(organisation, today + timedelta(days=365))
    lines = ["Demo users (demo data only; passwords are random for this database):"]
    made = {}
    for role, organisation in USERS:
        email = f"{role.value.replace('_', '.')}@demo.childindex.example"
        password = random_password()
        user = add_user(email, organisations[organisation], [role], password, role.label)
        record_checks(user, today + timedelta(days=365), today, today)
        made[role] = user
        assert user.totp_secret is not None
        lines.append(f"  {role.label:<20} {email}  password: {password}")
        lines.append(f"  {'':<20} two-factor: {provisioning_uri(user.totp_secret, email)}")
    # The practitioner line-manages the holder of override, so /my-staff has someone to show.
    made[Role.OVERRIDE].line_manager = made[Role.PRACTITIONER]
    owner = organisations[USERS[1][1]]
    source = DataSource(
        name="Demo synthetic extract",
        organisation=owner,
        kind=SourceKind.OTHER,
        service=Service.OTHER,
        involvement_organisation=owner,
    )
    db.session.add(source)
    for done, spec in enumerate(ChildFactory(seed=2026).children(count), start=1):
        create_child(spec, source, organisations)
        if done % PROGRESS_EVERY == 0:
            progress(done)
    progress(count)
    return lines
