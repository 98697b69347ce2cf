"""Configuration read once from the environment and validated before the app starts.

A deployment that forgets its secret key or database must refuse to start rather than run on
a guessable default; local development and tests get safe throwaway values instead.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENVIRONMENTS = ("production", "development", "testing")


class ConfigError(RuntimeError):
    """The environment does not describe a service that may start."""


@dataclass(frozen=True)
class Settings:
    environment: str
    secret_key: str
    database_url: str
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    account_lockout_failures: int = 5
    address_lockout_failures: int = 50
    lockout_window_minutes: int = 15
    trusted_proxy_hops: int = 0
    load_batch_rows: int = 1000
    upload_max_bytes: int = 2 * 1024**3
    log_level: str = "INFO"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def local(self) -> bool:
        return self.environment in ("development", "testing")

    def flask_config(self) -> dict[str, Any]:
        """The Flask and extension settings that follow from these settings."""
        config: dict[str, Any] = {
            "SECRET_KEY": self.secret_key,
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
            "SESSION_COOKIE_NAME": "child_index_session" if self.local else "__Host-child_index_session",
            "SESSION_COOKIE_SECURE": not self.local,
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            "SESSION_IDLE_MINUTES": self.session_idle_minutes,
            "SESSION_ABSOLUTE_HOURS": self.session_absolute_hours,
            "ACCOUNT_LOCKOUT_FAILURES": self.account_lockout_failures,
            "ADDRESS_LOCKOUT_FAILURES": self.address_lockout_failures,
            "LOCKOUT_WINDOW_MINUTES": self.lockout_window_minutes,
            "WTF_CSRF_TIME_LIMIT": None,
            "WTF_CSRF_SSL_STRICT": not self.local,
            "MAX_CONTENT_LENGTH": 1024 * 1024,
            "INDEX_ENVIRONMENT": self.environment,
            "TRUSTED_PROXY_HOPS": self.trusted_proxy_hops,
            "LOAD_BATCH_ROWS": self.load_batch_rows,
            # An extract upload may be far larger than MAX_CONTENT_LENGTH; only the upload views allow it.
            "UPLOAD_MAX_BYTES": self.upload_max_bytes,
            "TESTING": self.environment == "testing",
            "API_TITLE": "Child Index API",
            "API_VERSION": "v1",
            "OPENAPI_VERSION": "3.0.3",
            "OPENAPI_URL_PREFIX": "/api/v1",
            "OPENAPI_JSON_PATH": "openapi.json",
        }
        config.update(self.extra)
        return config


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as error:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from error
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}")
    return value


def default_sqlite_url(instance_path: str) -> str:
    """The embedded database for a laptop: a file in the instance folder."""
    return "sqlite:///" + str(Path(instance_path) / "child_index.sqlite3")


def load_settings(instance_path: str, env: Mapping[str, str] | None = None) -> Settings:
    """Read settings from the environment, refusing an unsafe production configuration."""
    env = os.environ if env is None else env
    environment = env.get("CHILD_INDEX_ENV", "production")
    if environment not in ENVIRONMENTS:
        raise ConfigError(f"CHILD_INDEX_ENV must be one of {', '.join(ENVIRONMENTS)}, not {environment!r}")
    secret_key = env.get("SECRET_KEY", "")
    database_url = env.get("DATABASE_URL", "")
    if environment == "production":
        if len(secret_key) < 32:
            raise ConfigError("SECRET_KEY must be set to at least 32 random characters in production")
        if not database_url:
            raise ConfigError("DATABASE_URL must be set in production")
    else:
        secret_key = secret_key or secrets.token_urlsafe(32)
        database_url = database_url or default_sqlite_url(instance_path)
    if database_url.startswith("postgresql://") or database_url.startswith("postgres://"):
        database_url = "postgresql+psycopg://" + database_url.split("://", 1)[1]
    if not (database_url.startswith("sqlite:") or database_url.startswith("postgresql+psycopg:")):
        raise ConfigError("DATABASE_URL must be a sqlite:/// or postgresql:// URL")
    return Settings(
        environment=environment,
        secret_key=secret_key,
        database_url=database_url,
        session_idle_minutes=_int(env, "SESSION_IDLE_MINUTES", 30),
        session_absolute_hours=_int(env, "SESSION_ABSOLUTE_HOURS", 12),
        account_lockout_failures=_int(env, "ACCOUNT_LOCKOUT_FAILURES", 5),
        address_lockout_failures=_int(env, "ADDRESS_LOCKOUT_FAILURES", 50),
        lockout_window_minutes=_int(env, "LOCKOUT_WINDOW_MINUTES", 15),
        trusted_proxy_hops=_int(env, "TRUSTED_PROXY_HOPS", 0, minimum=0),
        load_batch_rows=_int(env, "LOAD_BATCH_ROWS", 1000),
        upload_max_bytes=_int(env, "UPLOAD_MAX_BYTES", 2 * 1024**3),
        log_level=env.get("LOG_LEVEL", "INFO"),
    )
