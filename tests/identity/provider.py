"""A small OpenID Connect provider for the tests, served from a thread on 127.0.0.1.

It serves discovery, its key set, and the authorize and token endpoints of the code flow with
PKCE, and signs id_tokens with its own RSA key. Each test says how the next sign-in should go
(`behaviour`): who signs in and how (`sub`, `amr`), or what to get wrong (nonce, state, expiry,
signature, audience, issuer, the key set, an error instead of a code).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flask import Flask, abort, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from werkzeug.wrappers import Response

from tests.threaded_server import serving_in_thread

CLIENT_ID = "child-index"
CLIENT_SECRET = "provider-issued-client-secret"  # a test fixture's value, not a real secret


@dataclass
class Provider:
    issuer: str = ""
    behaviour: dict[str, Any] = field(default_factory=dict)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    token_requests: int = 0
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "signing-1"}))
    stranger: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "signing-1"}))

    def id_token(self, grant: dict[str, Any], access_token: str) -> str:
        how = self.behaviour
        now = int(time.time())
        claims = {
            "iss": how.get("iss", self.issuer),
            "sub": how.get("sub", "subject-1"),
            "aud": how.get("aud", CLIENT_ID),
            "iat": now,
            "exp": now + how.get("expires_in", 300),
            "nonce": how.get("nonce", grant["nonce"]),
            "amr": how.get("amr", ["pwd"]),
            "at_hash": _half_hash(access_token),
        }
        key = self.stranger if how.get("sign_with") == "stranger" else self.key
        return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


def _half_hash(value: str) -> str:
    digest = hashlib.sha256(value.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def provider_app(provider: Provider) -> Flask:
    app = Flask("test_provider")

    @app.get("/.well-known/openid-configuration")
    def discovery() -> Response:
        return jsonify(
            issuer=provider.behaviour.get("discovery_issuer", provider.issuer),
            authorization_endpoint=provider.behaviour.get("authorization_endpoint", provider.issuer + "/authorize"),
            token_endpoint=provider.issuer + "/token",
            jwks_uri=provider.issuer + "/jwks",
            response_types_supported=["code"],
            subject_types_supported=["public"],
            id_token_signing_alg_values_supported=["RS256"],
            token_endpoint_auth_methods_supported=["client_secret_basic"],
        )

    @app.get("/jwks")
    def jwks() -> Response:
        if "jwks" in provider.behaviour:
            return jsonify(provider.behaviour["jwks"])
        return jsonify(KeySet([provider.key]).as_dict(private=False))

    @app.get("/authorize")
    def authorize() -> Response:
        args = request.args
        if (
            args.get("client_id") != CLIENT_ID
            or args.get("response_type") != "code"
            or "openid" not in args.get("scope", "").split()
            or args.get("code_challenge_method") != "S256"
        ):
            abort(400)
        state = provider.behaviour.get("state", args["state"])
        if "error" in provider.behaviour:
            return redirect(
                args["redirect_uri"] + "?" + urlencode({"error": provider.behaviour["error"], "state": state})
            )
        code = secrets.token_urlsafe(16)
        provider.codes[code] = {
            "nonce": args["nonce"],
            "challenge": args["code_challenge"],
            "redirect_uri": args["redirect_uri"],
        }
        return redirect(args["redirect_uri"] + "?" + urlencode({"code": code, "state": state}))

    @app.post("/token")
    def token() -> tuple[Response, int] | Response:
        provider.token_requests += 1
        auth = request.authorization
        if auth is None or (auth.username, auth.password) != (CLIENT_ID, CLIENT_SECRET):
            return jsonify(error="invalid_client"), 401
        grant = provider.codes.pop(request.form.get("code", ""), None)
        if (
            grant is None
            or request.form.get("grant_type") != "authorization_code"
            or request.form.get("redirect_uri") != grant["redirect_uri"]
            or _s256(request.form.get("code_verifier", "")) != grant["challenge"]
        ):
            return jsonify(error="invalid_grant"), 400
        access_token = secrets.token_urlsafe(24)
        return jsonify(
            access_token=access_token,
            token_type="Bearer",
            expires_in=300,
            id_token=provider.id_token(grant, access_token),
        )

    return app


@contextmanager
def serving_provider() -> Iterator[Provider]:
    provider = Provider()
    with serving_in_thread(provider_app(provider), "test-oidc-provider") as port:
        provider.issuer = f"http://127.0.0.1:{port}"
        yield provider
