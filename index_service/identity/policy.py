"""When a provider's sign-in may stand in for the index's own second factor (plain Python, no Flask)."""

from __future__ import annotations

from collections.abc import Iterable

# RFC 8176 methods that are, or imply, a second factor: multiple factors or channels, a one-time
# code, a hardware key, a smart card. A password alone ("pwd") or a PIN never counts.
MULTI_FACTOR_METHODS = frozenset({"mfa", "mca", "otp", "hwk", "sc"})


def provider_did_multi_factor(amr: object) -> bool:
    """Whether the id_token's `amr` claim names a multi-factor method."""
    if not isinstance(amr, list):
        return False
    return bool(MULTI_FACTOR_METHODS & {method for method in amr if isinstance(method, str)})


def completes_sign_in(trusts_provider_mfa: bool, amr: Iterable[str] | object) -> bool:
    """The provider's sign-in completes ours only if the organisation trusts its multi-factor claim."""
    return trusts_provider_mfa and provider_did_multi_factor(amr)
