"""Signing in through an organisation's provider, then (unless it is trusted for it) the index's own code.

The request's state, nonce and PKCE verifier live in the server-side session and are used once:
the callback takes them out before anything else, so a replayed or forged callback finds none.
"""

from __future__ import annotations

import hmac
import secrets
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
REQUEST_VALID_FOR = timedelta(minutes=10)


def _redirect_uri() -> str:
    return url_for("identity.callback", _external=True)


def begin(provider: IdentityProvider) -> str | Refusal:
    """The provider's authorization URL for a new request kept in a fresh session; or why not.

    Refused sign-ins count towards the client address's lockout, as failed passwords do.
    """
    if is_address_locked(request.remote_addr):
        return _refused(provider, Refusal("locked", Outcome.DENIED))
    try:
        metadata = client.discover(provider.issuer)
    except client.ProviderError as error:
        return _refused(provider, Refusal(error.why))
    state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
    session.clear()
    session.renew()  # type: ignore[attr-defined]
    session[SESSION_KEY] = {"provider_id": provider.id, "state": state, "nonce": nonce, "verifier": verifier,
                            "at": utcnow().isoformat()}
    record_event(AuditTag.LOGIN_OIDC_START, details={"provider_id": provider.id},
                 organisation_id=provider.organisation_id)
    return client.authorization_url(metadata, provider.client_id, _redirect_uri(), state, nonce, verifier)


def finish(args: dict[str, str]) -> tuple[User, bool] | Refusal:
    """The user the provider vouched for, and whether its multi-factor claim is trusted; or why not (audited).

    Sign-in itself goes on in auth/: the access decision, then the index's code unless the claim is trusted.
    """
    pending = session.pop(SESSION_KEY, None)
    if not isinstance(pending, dict):
        return _refused(None, Refusal("no sign-in in progress"))
    provider = db.session.get(IdentityProvider, pending.get("provider_id"))
    if provider is None or not provider.is_enabled:
        return _refused(None, Refusal("provider removed or disabled"))
    if utcnow() - datetime.fromisoformat(pending["at"]) > REQUEST_VALID_FOR:
        return _refused(provider, Refusal("sign-in request expired"))
    if not hmac.compare_digest(args.get("state", "").encode(), pending["state"].encode()):
        return _refused(provider, Refusal("state does not match"))
    if "error" in args:
        return _refused(provider, Refusal(f"provider refused: {args['error'][:60]}"))
    if not args.get("code"):
        return _refused(provider, Refusal("no authorization code"))
    try:
        metadata = client.discover(provider.issuer)
        secret = unseal(PROVIDER_KEYS, provider.client_secret_encrypted)
        token = client.exchange_code(metadata, provider.client_id, secret, _redirect_uri(), args["code"],
                                     pending["verifier"])
        claims = client.verify_id_token(token, metadata, provider.client_id, pending["nonce"])
    except client.ProviderError as error:
        return _refused(provider, Refusal(error.why))
    except SecretUnreadable:
        return _refused(provider, Refusal("client secret cannot be read with the configured keys"))
    subject = claims["sub"]
    found = user_for_subject(provider, subject)
    if isinstance(found, Refusal):
        return _refused(provider, found, subject)
    complete = completes_sign_in(provider.trusts_provider_mfa, claims.get("amr"))
    record_event(AuditTag.LOGIN_OIDC, user=found, details={
        "provider_id": provider.id, "subject": subject, "amr": claims.get("amr"),
        "second_factor": "provider" if complete else "index code"})
    return found, complete


def _refused(provider: IdentityProvider | None, refusal: Refusal, subject: str | None = None) -> Refusal:
    details: dict[str, object] = {"why": refusal.why, "provider_id": provider.id if provider else None}
    if subject is not None:
        details["subject"] = subject
    record_event(AuditTag.LOGIN_OIDC_REFUSED, refusal.outcome, user=refusal.user, details=details,
                 organisation_id=provider.organisation_id if provider else None)
    if refusal.why != "locked":
        record_address_failure(request.remote_addr)
    return refusal
