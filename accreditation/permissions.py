"""Roles and the permissions they grant: deny by default, never a bare string."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Role(StrEnum):
    PRACTITIONER = "practitioner"
    DATA_ADMIN = "data_admin"
    USER_ADMIN = "user_admin"
    SHIELDER = "shielder"
    AUDITOR = "auditor"
    INDEX_TEAM = "index_team"
    OVERRIDE = "override"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]


ROLE_LABELS = {
    Role.PRACTITIONER: "Practitioner",
    Role.DATA_ADMIN: "Data administrator",
    Role.USER_ADMIN: "User administrator",
    Role.SHIELDER: "Shielder",
    Role.AUDITOR: "Auditor",
    Role.INDEX_TEAM: "Index team",
    Role.OVERRIDE: "Emergency override",
}


class Permission(StrEnum):
    RECORD_SEARCH = "record:search"
    RECORD_VIEW = "record:view"
    SIGNED_IN = "account:signed-in"
    SHIELDED_RECORD_VIEW = "record:view:shielded"
    SOURCE_MANAGE = "source:manage"
    LOAD_RUN = "load:run"
    REVIEW_DECIDE = "review:decide"
    RECORD_MERGE = "record:merge"
    SHIELD_MANAGE = "record:shield"
    SHIELDING_DETAILS_VIEW = "record:shielding:view"
    EMERGENCY_OVERRIDE = "record:override"
    OVERRIDE_REVIEW = "override:review"
    USER_MANAGE = "account:manage"
    ROLE_APPROVE = "account:role:approve"
    ACCREDITATION_MANAGE = "organisation:accredit"
    MEDIATED_ACCESS = "record:mediated"
    IDENTITY_PROVIDER_MANAGE = "identity-provider:manage"
    AUDIT_READ = "audit:read"


_EVERY_SIGNED_IN_USER = frozenset({Permission.SIGNED_IN})
_LOOKUP = frozenset({Permission.RECORD_SEARCH, Permission.RECORD_VIEW})
_DATA = frozenset({Permission.SOURCE_MANAGE, Permission.LOAD_RUN, Permission.REVIEW_DECIDE, Permission.RECORD_MERGE})

_SHIELDED = frozenset({Permission.SHIELDED_RECORD_VIEW, Permission.SHIELDING_DETAILS_VIEW})

# Breaking the glass is never part of an ordinary role: only the role OVERRIDE grants it,
# given explicitly to the few practitioners who may need it (with the lookups they need).
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.PRACTITIONER: _EVERY_SIGNED_IN_USER | _LOOKUP,
    Role.INDEX_TEAM: _EVERY_SIGNED_IN_USER
    | _LOOKUP
    | {
        Permission.ROLE_APPROVE,
        Permission.ACCREDITATION_MANAGE,
        Permission.MEDIATED_ACCESS,
        Permission.IDENTITY_PROVIDER_MANAGE,
    },
    Role.DATA_ADMIN: _EVERY_SIGNED_IN_USER | _LOOKUP | _DATA,
    Role.USER_ADMIN: _EVERY_SIGNED_IN_USER | {Permission.USER_MANAGE},
    Role.SHIELDER: _EVERY_SIGNED_IN_USER | _LOOKUP | _SHIELDED | {Permission.SHIELD_MANAGE},
    Role.AUDITOR: _EVERY_SIGNED_IN_USER | _LOOKUP | _SHIELDED | {Permission.OVERRIDE_REVIEW, Permission.AUDIT_READ},
    Role.OVERRIDE: _EVERY_SIGNED_IN_USER | _LOOKUP | {Permission.EMERGENCY_OVERRIDE},
}


# Roles that see shielded records, break the glass or act nationally take effect only once the
# index team approves them: a user administrator can ask for them but never grant them alone.
ROLES_NEEDING_APPROVAL = frozenset({Role.SHIELDER, Role.OVERRIDE, Role.AUDITOR, Role.INDEX_TEAM})


def needs_approval(role: Role) -> bool:
    return Role(role) in ROLES_NEEDING_APPROVAL


def permissions_for(roles: Iterable[Role]) -> frozenset[Permission]:
    """Every permission the roles grant together; no roles, no permissions."""
    granted: frozenset[Permission] = frozenset()
    for role in roles:
        granted |= ROLE_PERMISSIONS[Role(role)]
    return granted


def is_allowed(roles: Iterable[Role], permission: Permission) -> bool:
    if not isinstance(permission, Permission):
        raise TypeError(f"unknown permission {permission!r}")
    return permission in permissions_for(roles)
