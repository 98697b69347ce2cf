"""Identity providers' configuration and identities, and who a provider's subject is: each write audited."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from index_service.audit.events import record_event
from index_service.audit.models import AuditTag, Outcome
from index_service.auth.models import User
from index_service.database import utcnow
from index_service.extensions import db
from index_service.identity import client
from index_service.identity.models import IdentityProvider, ProviderIdentity
from index_service.organisation_models import Organisation
from index_service.sealed_secrets import PROVIDER_KEYS, seal


class IdentityError(ValueError):
    """A configuration that cannot be made; the message says why."""


@dataclass(frozen=True)
class ProviderSettings:
    issuer: str
    client_id: str
    client_secret: str | None  # None keeps the stored one
    trusts_provider_mfa: bool
    is_enabled: bool


def provider_for(organisation: Organisation) -> IdentityProvider | None:
    return db.session.scalar(select(IdentityProvider).where(IdentityProvider.organisation_id == organisation.id))


def enabled_providers() -> list[IdentityProvider]:
    """The providers offered on the sign-in page, by organisation name."""
    return list(
        db.session.scalars(
            select(IdentityProvider)
            .join(Organisation)
            .where(IdentityProvider.is_enabled.is_(True))
            .order_by(Organisation.name)
        )
    )


def providers_page(page: int, per_page: int) -> tuple[list[IdentityProvider], int]:
    total = db.session.scalar(select(func.count()).select_from(IdentityProvider)) or 0
    found = db.session.scalars(
        select(IdentityProvider)
        .join(Organisation)
        .order_by(Organisation.name)
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return list(found), total


def check_issuer(issuer: str) -> client.Metadata:
    """The provider's discovery document, which must name exactly this issuer; IdentityError says what was found.

    Checked when an issuer is entered, so that a typo or a stray slash shows to the administrator
    then, not to every person at sign-in as a provider that is not answering.
    """
    where = client.discovery_url(issuer)
    try:
        return client.discover(issuer)
    except client.ProviderError as error:
        if error.found is not None:
            raise IdentityError(
                f"The discovery document at {where} names the issuer “{error.found}”, "
                f"not “{issuer}”. Enter the issuer exactly as the provider names it."
            ) from error
        if error.why.endswith("unavailable"):
            raise IdentityError(
                f"No discovery document could be read at {where}. Check the issuer with the "
                "provider: it is the address before /.well-known/openid-configuration."
            ) from error
        raise IdentityError(f"The discovery document at {where} cannot be used: {error.why}.") from error


def register(organisation: Organisation, settings: ProviderSettings) -> IdentityProvider:
    if provider_for(organisation) is not None:
        raise IdentityError(f"{organisation.name} already has an identity provider: change that one instead.")
    if not settings.client_secret:
        raise IdentityError("Enter the client secret the provider gave you")
    provider = IdentityProvider(
        organisation_id=organisation.id,
        issuer=settings.issuer,
        client_id=settings.client_id,
        client_secret_encrypted=seal(PROVIDER_KEYS, settings.client_secret),
        trusts_provider_mfa=settings.trusts_provider_mfa,
        is_enabled=settings.is_enabled,
    )
    db.session.add(provider)
    db.session.flush()
    record_event(AuditTag.IDENTITY_PROVIDER_REGISTER, details=_described(provider), organisation_id=organisation.id)
    return provider


def change(provider: IdentityProvider, settings: ProviderSettings) -> None:
    provider.issuer = settings.issuer
    provider.client_id = settings.client_id
    if settings.client_secret:
        provider.client_secret_encrypted = seal(PROVIDER_KEYS, settings.client_secret)
    provider.trusts_provider_mfa = settings.trusts_provider_mfa
    provider.is_enabled = settings.is_enabled
    provider.updated_at = utcnow()
    db.session.flush()
    record_event(
        AuditTag.IDENTITY_PROVIDER_CHANGE,
        details={**_described(provider), "secret_replaced": bool(settings.client_secret)},
    )


def _described(provider: IdentityProvider) -> dict[str, object]:
    """What the audit trail keeps of a configuration: never the secret."""
    return {
        "provider_id": provider.id,
        "organisation_id": provider.organisation_id,
        "issuer": provider.issuer,
        "client_id": provider.client_id,
        "trusts_provider_mfa": provider.trusts_provider_mfa,
        "is_enabled": provider.is_enabled,
    }


def identities(provider: IdentityProvider) -> list[ProviderIdentity]:
    return list(
        db.session.scalars(
            select(ProviderIdentity)
            .where(ProviderIdentity.provider_id == provider.id)
            .order_by(ProviderIdentity.subject)
        )
    )


def link(provider: IdentityProvider, email: str, subject: str) -> ProviderIdentity:
    """Say which of the organisation's users the provider's subject is."""
    user = db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if user is None or user.organisation_id != provider.organisation_id:
        raise IdentityError(f"{provider.organisation.name} has no user with that email address.")
    taken = db.session.scalar(
        select(ProviderIdentity).where(
            ProviderIdentity.provider_id == provider.id,
            (ProviderIdentity.subject == subject) | (ProviderIdentity.user_id == user.id),
        )
    )
    if taken is not None:
        raise IdentityError("That subject or that user is already linked: unlink it first.")
    identity = ProviderIdentity(provider_id=provider.id, subject=subject, user_id=user.id)
    db.session.add(identity)
    db.session.flush()
    record_event(
        AuditTag.IDENTITY_LINK, details={"provider_id": provider.id, "subject": subject, "linked_user_id": user.id}
    )
    return identity


def link_at_sign_in(provider_id: int, subject: str, user: User) -> ProviderIdentity | None:
    """Link the subject a provider vouched for to the user who then proved their own password and code.

    Nothing is linked if either side was linked meanwhile (the administrator's page can sort it out).
    """
    provider = db.session.get(IdentityProvider, provider_id)
    if provider is None or user.organisation_id != provider.organisation_id:
        return None
    taken = db.session.scalar(
        select(ProviderIdentity).where(
            ProviderIdentity.provider_id == provider.id,
            (ProviderIdentity.subject == subject) | (ProviderIdentity.user_id == user.id),
        )
    )
    if taken is not None:
        return None
    identity = ProviderIdentity(provider_id=provider.id, subject=subject, user_id=user.id)
    db.session.add(identity)
    db.session.flush()
    record_event(
        AuditTag.IDENTITY_LINK,
        user=user,
        details={
            "provider_id": provider.id,
            "subject": subject,
            "linked_user_id": user.id,
            "by": "the user, at sign-in, with their password and code",
        },
    )
    return identity


def linked_elsewhere(provider: IdentityProvider, user: User) -> bool:
    """Whether the user already has another subject at this provider."""
    return (
        db.session.scalar(
            select(ProviderIdentity.id).where(
                ProviderIdentity.provider_id == provider.id, ProviderIdentity.user_id == user.id
            )
        )
        is not None
    )


def unlink(identity: ProviderIdentity) -> None:
    record_event(
        AuditTag.IDENTITY_UNLINK,
        details={"provider_id": identity.provider_id, "subject": identity.subject, "linked_user_id": identity.user_id},
    )
    db.session.delete(identity)
    db.session.flush()


@dataclass(frozen=True)
class Refusal:
    """Why a sign-in through a provider stops, for the audit trail; the person sees one plain message."""

    why: str
    outcome: Outcome = Outcome.FAILURE
    user: User | None = None


def user_for_subject(provider: IdentityProvider, subject: str) -> User | Refusal:
    """The provider organisation's active user with that subject, or why not."""
    identity = db.session.scalar(
        select(ProviderIdentity).where(ProviderIdentity.provider_id == provider.id, ProviderIdentity.subject == subject)
    )
    if identity is None:
        return Refusal("unknown subject", Outcome.DENIED)
    user = identity.user
    if user.organisation_id != provider.organisation_id:
        return Refusal("subject of a user of another organisation", Outcome.DENIED, user)
    if not user.is_active:
        return Refusal("account closed", Outcome.DENIED, user)
    return user
