"""Organisations' own OpenID Connect identity providers, and signing in through them."""
