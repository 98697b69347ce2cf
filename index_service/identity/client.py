"""The index as an OpenID Connect relying party, with authlib's client: discovery, the
authorization request (state, nonce, PKCE), the code exchange, and the id_token's checks.

Every failure is a ProviderError whose `why` goes into the audit trail; nothing from the
provider is trusted until the id_token's signature, issuer, audience, expiry and nonce pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import ExpiredTokenError, InvalidClaimError, JoseError, MissingClaimError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

TIMEOUT_SECONDS = 10
CLOCK_LEEWAY_SECONDS = 60
# Asymmetric signatures only: never "none", nor an HMAC keyed with something the client knows.
SIGNING_ALGORITHMS = ["RS256", "PS256", "ES256"]
AUTH_METHODS = ("client_secret_basic", "client_secret_post")
_HOST = re.compile(r"[A-Za-z0-9.-]+")


class ProviderError(Exception):
    """The provider could not be used or its answer cannot be trusted; `why` is for the audit trail."""

    def __init__(self, why: str, found: str | None = None) -> None:
        super().__init__(why)
        self.why = why
        self.found = found  # what the provider said instead, when that helps an administrator


@dataclass(frozen=True)
class Metadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    token_endpoint_auth_method: str


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def origin(url: str) -> str | None:
    """The scheme, host and port of an http(s) URL, as a CSP source; None for anything else."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("https", "http") or not parts.hostname or not _HOST.fullmatch(parts.hostname):
        return None
    return f"{parts.scheme}://{parts.hostname}" + (f":{port}" if port else "")


def _get_json(url: str, what: str) -> dict[str, Any]:
    try:
        response = requests.get(url, timeout=TIMEOUT_SECONDS, allow_redirects=False)
        response.raise_for_status()
        data = response.json()
    except (requests.RequestException, ValueError) as error:
        raise ProviderError(f"{what} unavailable") from error
    if not isinstance(data, dict):
        raise ProviderError(f"{what} is not a JSON object")
    return data


def discover(issuer: str) -> Metadata:
    """The provider's endpoints from its discovery document, which must name the configured issuer."""
    data = _get_json(discovery_url(issuer), "discovery document")
    if data.get("issuer") != issuer:
        raise ProviderError("discovery document names another issuer", found=str(data.get("issuer", ""))[:300])
    try:
        endpoints = [str(data[key]) for key in ("authorization_endpoint", "token_endpoint", "jwks_uri")]
    except KeyError as error:
        raise ProviderError(f"discovery document lacks {error.args[0]}") from error
    offered = data.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    method = next((m for m in AUTH_METHODS if m in offered), None)
    if method is None:
        raise ProviderError("provider offers no client authentication the index uses")
    return Metadata(issuer, *endpoints, token_endpoint_auth_method=method)


def authorization_url(
    metadata: Metadata, client_id: str, redirect_uri: str, state: str, nonce: str, code_verifier: str
) -> str:
    """Where to send the person: the code flow with PKCE (S256), this request's state and nonce."""
    with OAuth2Session(client_id, redirect_uri=redirect_uri, scope="openid", code_challenge_method="S256") as client:
        url, _ = client.create_authorization_url(
            metadata.authorization_endpoint, state=state, nonce=nonce, code_verifier=code_verifier
        )
    return str(url)


def exchange_code(
    metadata: Metadata, client_id: str, client_secret: str, redirect_uri: str, code: str, code_verifier: str
) -> dict[str, Any]:
    """The provider's tokens for the code; an id_token must be among them."""
    try:
        with OAuth2Session(
            client_id,
            client_secret,
            redirect_uri=redirect_uri,
            token_endpoint_auth_method=metadata.token_endpoint_auth_method,
        ) as client:
            token = client.fetch_token(
                metadata.token_endpoint,
                grant_type="authorization_code",
                code=code,
                code_verifier=code_verifier,
                timeout=TIMEOUT_SECONDS,
            )
    except (requests.RequestException, AuthlibBaseError, ValueError) as error:
        raise ProviderError("token request refused or failed") from error
    if not isinstance(token.get("id_token"), str):
        raise ProviderError("token response has no id_token")
    return dict(token)


def verify_id_token(
    token: dict[str, Any], metadata: Metadata, client_id: str, nonce: str, now: int | None = None
) -> dict[str, Any]:
    """The id_token's claims once signature, issuer, audience, expiry, nonce and at_hash all pass."""
    try:
        keys = KeySet.import_key_set(_get_json(metadata.jwks_uri, "key set"))
    except (JoseError, ValueError, KeyError, TypeError) as error:
        raise ProviderError("key set not valid") from error
    try:
        decoded = jwt.decode(token["id_token"], keys, registry=JWSRegistry(algorithms=SIGNING_ALGORITHMS))
    except (JoseError, ValueError) as error:
        raise ProviderError("id_token signature not valid") from error
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        options={
            "iss": {"essential": True, "value": metadata.issuer},
            "aud": {"essential": True, "value": client_id},
            "sub": {"essential": True},
            "nonce": {"essential": True, "value": nonce},
        },
        params={"nonce": nonce, "client_id": client_id, "access_token": token.get("access_token")},
    )
    try:
        claims.validate(now=now, leeway=CLOCK_LEEWAY_SECONDS)
    except ExpiredTokenError as error:
        raise ProviderError("id_token expired") from error
    except (MissingClaimError, InvalidClaimError) as error:
        raise ProviderError(f"id_token claim not valid: {error.description or error}") from error
    except JoseError as error:
        raise ProviderError(f"id_token not valid: {error}") from error
    return dict(claims)
