"""Signing in through an organisation's provider, then (unless it is trusted for it) the index's own code.

The request's state, nonce and PKCE verifier live in the server-side session and are used once:
the callback takes them out before anything else, so a replayed or forged callback finds none.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import request, session, url_for

from index_service.audit.events import record_event
from index_service.audit.models import AuditTag, Outcome
from index_service.auth.models import User
from index_service.auth.operations import is_address_locked, record_address_failure
from index_service.database import utcnow
from index_service.extensions import db
from index_service.identity import client
from index_service.identity.models import IdentityProvider
from index_service.identity.operations import Refusal, user_for_subject
from index_service.identity.policy import completes_sign_in
from index_service.sealed_secrets import PROVIDER_KEYS, SecretUnreadable, unseal

SESSION_KEY = "oidc_request"
LINK_KEY = "oidc_link"
REQUEST_VALID_FOR = timedelta(minutes=10)


def _redirect_uri() -> str:
    return url_for("identity.callback", _external=True)


def begin(provider: IdentityProvider) -> str | Refusal:
    """The provider's authorization URL for a new request kept in a fresh session; or why not.

    Refused sign-ins count towards the client address's lockout, as failed passwords do.
    """
    if is_address_locked(request.remote_addr):
        return refused(provider, Refusal("locked", Outcome.DENIED))
    try:
        metadata = client.discover(provider.issuer)
    except client.ProviderError as error:
        return refused(provider, Refusal(error.why))
    state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
    session.clear()
    session.renew()  # type: ignore[attr-defined]
    session[SESSION_KEY] = {
        "provider_id": provider.id,
        "state": state,
        "nonce": nonce,
        "verifier": verifier,
        "at": utcnow().isoformat(),
    }
    record_event(
        AuditTag.LOGIN_OIDC_START, details={"provider_id": provider.id}, organisation_id=provider.organisation_id
    )
    return client.authorization_url(metadata, provider.client_id, _redirect_uri(), state, nonce, verifier)


@dataclass(frozen=True)
class Unlinked:
    """The provider vouched for a subject nobody is linked to yet: the person may link it by proving their account."""

    provider: IdentityProvider
    subject: str


def finish(args: dict[str, str]) -> tuple[User, bool, IdentityProvider] | Unlinked | Refusal:
    """The user the provider vouched for, whether its multi-factor claim is trusted, and the provider; or
    a subject to link; or why not (audited).

    Only a callback whose state matches takes the request out of the session: one that does not is
    refused and leaves the sign-in in progress, so a crafted link cannot cancel it. Sign-in itself
    goes on in auth/: the access decision, then the index's code unless the claim is trusted.
    """
    pending = session.get(SESSION_KEY)
    if not isinstance(pending, dict):
        return refused(None, Refusal("no sign-in in progress"))
    provider = db.session.get(IdentityProvider, pending.get("provider_id"))
    if not hmac.compare_digest(args.get("state", "").encode(), pending["state"].encode()):
        return refused(provider, Refusal("state does not match"))
    session.pop(SESSION_KEY)
    if provider is None or not provider.is_enabled:
        return refused(None, Refusal("provider removed or disabled"))
    if utcnow() - datetime.fromisoformat(pending["at"]) > REQUEST_VALID_FOR:
        return refused(provider, Refusal("sign-in request expired"))
    if "error" in args:
        return refused(provider, Refusal(f"provider refused: {args['error'][:60]}"))
    if not args.get("code"):
        return refused(provider, Refusal("no authorization code"))
    try:
        metadata = client.discover(provider.issuer)
        secret = unseal(PROVIDER_KEYS, provider.client_secret_encrypted)
        token = client.exchange_code(
            metadata, provider.client_id, secret, _redirect_uri(), args["code"], pending["verifier"]
        )
        claims = client.verify_id_token(token, metadata, provider.client_id, pending["nonce"])
    except client.ProviderError as error:
        return refused(provider, Refusal(error.why))
    except SecretUnreadable:
        return refused(provider, Refusal("client secret cannot be read with the configured keys"))
    subject = claims["sub"]
    found = user_for_subject(provider, subject)
    if isinstance(found, Refusal) and found.why == "unknown subject":
        record_event(
            AuditTag.LOGIN_OIDC,
            details={
                "provider_id": provider.id,
                "subject": subject,
                "amr": claims.get("amr"),
                "next": "link by the index password and code",
            },
            organisation_id=provider.organisation_id,
        )
        session[LINK_KEY] = {"provider_id": provider.id, "subject": subject, "at": utcnow().isoformat()}
        return Unlinked(provider, subject)
    if isinstance(found, Refusal):
        return refused(provider, found, subject)
    complete = completes_sign_in(provider.trusts_provider_mfa, claims.get("amr"))
    record_event(
        AuditTag.LOGIN_OIDC,
        user=found,
        details={
            "provider_id": provider.id,
            "subject": subject,
            "amr": claims.get("amr"),
            "second_factor": "provider" if complete else "index code",
        },
    )
    return found, complete, provider


def pending_link() -> Unlinked | None:
    """The subject waiting to be linked in this session, if it is recent and its provider still signs people in."""
    waiting = session.get(LINK_KEY)
    if not isinstance(waiting, dict) or utcnow() - datetime.fromisoformat(waiting["at"]) > REQUEST_VALID_FOR:
        return None
    provider = db.session.get(IdentityProvider, waiting.get("provider_id"))
    if provider is None or not provider.is_enabled:
        return None
    return Unlinked(provider, str(waiting["subject"]))


def refused(provider: IdentityProvider | None, refusal: Refusal, subject: str | None = None) -> Refusal:
    """Audit a refusal (its `why` also as the event's reason, for the failed sign-ins report) and count it
    towards the client address's lockout."""
    details: dict[str, object] = {"why": refusal.why, "provider_id": provider.id if provider else None}
    if subject is not None:
        details["subject"] = subject
    record_event(
        AuditTag.LOGIN_OIDC_REFUSED,
        refusal.outcome,
        user=refusal.user,
        details=details,
        reason=refusal.why[:100],
        organisation_id=provider.organisation_id if provider else None,
    )
    if refusal.why != "locked":
        record_address_failure(request.remote_addr)
    return refusal
