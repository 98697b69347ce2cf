"""A real OpenID Connect provider for browser tests: oidc-provider-mock, over TLS, in a thread.

Its authorize page asks for the subject to sign in as (a text box and an "Authorize" button) and
issues RS256 id_tokens for any client ID and secret. `tamper` spoils the next id_tokens it issues
as a hostile or broken provider would: a wrong issuer, an expired token, a payload altered after
signing, or `alg: none`.
"""

from __future__ import annotations

import base64
import json
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import flask
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.browser.production import HOST, Tls
from tests.threaded_server import serving_in_thread

TAMPERINGS = ("wrong issuer", "expired", "altered", "alg none")


@dataclass
class MockProvider:
    issuer: str = ""
    tamper: str | None = None


def _segment(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(id_token: str) -> dict[str, object]:
    payload = id_token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def _spoiled(id_token: str, how: str) -> str:
    claims = _claims(id_token)
    header, _, signature = id_token.split(".")
    if how == "altered":
        return f"{header}.{_segment({**claims, 'sub': 'someone-else'})}.{signature}"
    if how == "alg none":
        return f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{_segment(claims)}."
    changed = (
        {"iss": "https://impostor.example"}
        if how == "wrong issuer"
        else {"iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600}
    )
    # The provider's own key, so the signature is good and only the claims are wrong.
    key = RSAKey.import_key(flask.g.oidc_provider_mock_storage.jwk.as_dict(is_private=True))
    return jwt.encode({"alg": "RS256", "kid": key.kid}, {**claims, **changed}, key)


@contextmanager
def serving_mock_provider(tls: Tls) -> Iterator[MockProvider]:
    """oidc-provider-mock on https://127.0.0.1:PORT (the test CA's certificate) while the block runs."""
    provider = MockProvider()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # it imports authlib.jose, which authlib deprecates
        import oidc_provider_mock
    app = oidc_provider_mock.app(require_nonce=True)

    @app.after_request
    def spoil(response: flask.Response) -> flask.Response:
        if flask.request.path == "/oauth2/token" and provider.tamper and response.status_code == 200:
            token = response.get_json()
            token["id_token"] = _spoiled(token["id_token"], provider.tamper)
            response.set_data(json.dumps(token))
        return response

    with serving_in_thread(app, "oidc-provider-mock", tls.server_context(), HOST) as port:
        provider.issuer = f"https://{HOST}:{port}"
        yield provider
