"""Configuration read once from the environment and validated before the app starts.

A deployment that forgets its secret key or database must refuse to start rather than run on
a guessable default; local development and tests get safe throwaway values instead.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from index_service.audit.canonical import json_text

ENVIRONMENTS = ("production", "development", "testing")


class ConfigError(RuntimeError):
    """The environment does not describe a service that may start."""


def default_load_workers() -> int:
    """One fewer than the CPUs: a load's own process takes a share of each batch's matching, so
    with these every CPU has a matcher and no two matchers contend for one (the measurements
    behind this are in docs/performance.md, "Figures behind the code's settings")."""
    return max((os.cpu_count() or 1) - 1, 0)


@dataclass(frozen=True)
class Settings:
    environment: str
    secret_key: str
    database_url: str
    totp_encryption_key: str
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    account_lockout_failures: int = 5
    address_lockout_failures: int = 50
    lockout_window_minutes: int = 15
    trusted_proxy_hops: int = 0
    load_batch_rows: int = 1000
    load_workers: int = field(default_factory=default_load_workers)
    dry_run_carried_records: int = 10_000
    upload_max_bytes: int = 2 * 1024**3
    upload_quota_bytes: int = 10 * 1024**3
    upload_retention_hours: int = 24
    log_level: str = "INFO"
    identity_provider_keys: tuple[str, ...] = ()
    audit_checkpoint_key: str = ""
    # An event about a newborn must outlive the record (to 25 with consent, then 6 years archived) by 6 years.
    audit_retention_days: int = (25 + 6 + 6) * 366
    subject_access_shows_names: bool = False
    working_hours: tuple[int, int] = (8, 18)
    # A person's searches in any minute and any 24 hours: more than a busy practitioner's day needs.
    search_limit_per_minute: int = 30
    search_limit_per_day: int = 300
    # The searches and views in a day at which the unusual-use report lists a person, whatever their norms.
    unusual_lookups_per_day: int = 200
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def local(self) -> bool:
        return self.environment in ("development", "testing")

    def flask_config(self) -> dict[str, Any]:
        """The Flask and extension settings that follow from these settings."""
        config: dict[str, Any] = {
            "SECRET_KEY": self.secret_key,
            "TOTP_ENCRYPTION_KEY": self.totp_encryption_key,
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            # JSON is stored as the canonical text the audit chain hashes, so `audit verify` hashes it as read.
            "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, "json_serializer": json_text},
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
            # Over HTTPS a form must also carry a Referer from this site (beside its token and the
            # SameSite session cookie), so a token that leaks cannot be posted from another origin.
            # Browsers send one only because the Referrer-Policy is `same-origin`
            # (index_service._security_headers); `no-referrer` refuses every form. See docs/production.md.
            "WTF_CSRF_SSL_STRICT": not self.local,
            # HTTPS only, for a year, on every subdomain: production is served over TLS and nothing else
            # (a browser ignores the header over plain HTTP, so development sends none).
            "STRICT_TRANSPORT_SECURITY": None if self.local else "max-age=31536000; includeSubDomains",
            "MAX_CONTENT_LENGTH": 1024 * 1024,
            "INDEX_ENVIRONMENT": self.environment,
            "TRUSTED_PROXY_HOPS": self.trusted_proxy_hops,
            "LOAD_BATCH_ROWS": self.load_batch_rows,
            "LOAD_WORKERS": self.load_workers,
            # The most records a dry run carries from batch to batch (sources.loading.dry_run): its memory bound.
            "DRY_RUN_CARRIED_RECORDS": self.dry_run_carried_records,
            # An extract upload may be far larger than MAX_CONTENT_LENGTH; only the upload views allow it.
            "UPLOAD_MAX_BYTES": self.upload_max_bytes,
            # What one organisation's stored extracts may take at once (sources.uploads).
            "UPLOAD_QUOTA_BYTES": self.upload_quota_bytes,
            # How long a stored extract outlives a failed load or a completed dry run of it, to resume
            # or load it for real (sources.uploads).
            "UPLOAD_RETENTION_HOURS": self.upload_retention_hours,
            # Fernet keys for identity providers' client secrets: the first encrypts, all decrypt.
            "IDENTITY_PROVIDER_KEYS": self.identity_provider_keys,
            "TESTING": self.environment == "testing",
            # The test suite's hashes at argon2's cheapest cost; every other environment's at the standard one.
            "ARGON2_CHEAPEST": self.environment == "testing",
            "AUDIT_CHECKPOINT_KEY": self.audit_checkpoint_key,
            "AUDIT_RETENTION_DAYS": self.audit_retention_days,
            "SUBJECT_ACCESS_SHOWS_NAMES": self.subject_access_shows_names,
            "WORKING_HOURS": self.working_hours,
            "SEARCH_LIMIT_PER_MINUTE": self.search_limit_per_minute,
            "SEARCH_LIMIT_PER_DAY": self.search_limit_per_day,
            "UNUSUAL_LOOKUPS_PER_DAY": self.unusual_lookups_per_day,
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


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw not in ("true", "false", "1", "0", "yes", "no"):
        raise ConfigError(f"{name} must be true or false, not {raw!r}")
    return raw in ("true", "1", "yes")


def _working_hours(env: Mapping[str, str]) -> tuple[int, int]:
    raw = env.get("WORKING_HOURS", "8-18")
    try:
        start, end = (int(part) for part in raw.split("-"))
    except ValueError as error:
        raise ConfigError(f"WORKING_HOURS must be two hours like 8-18, not {raw!r}") from error
    if not 0 <= start < end <= 24:
        raise ConfigError("WORKING_HOURS must be a start hour before an end hour, from 0 to 24")
    return start, end


# The test suite and the benchmarks search far faster than a person: limits they do not meet
# unless a test sets its own.
TESTING_SEARCH_LIMITS = (1_000_000, 1_000_000)


def _search_limits(env: Mapping[str, str], environment: str) -> tuple[int, int]:
    """(per minute, per day); a day's limit below a minute's would make the minute's meaningless."""
    minute_default, day_default = (
        TESTING_SEARCH_LIMITS
        if environment == "testing"
        else (Settings.search_limit_per_minute, Settings.search_limit_per_day)
    )
    per_minute = _int(env, "SEARCH_LIMIT_PER_MINUTE", minute_default)
    per_day = _int(env, "SEARCH_LIMIT_PER_DAY", day_default)
    if per_day < per_minute:
        raise ConfigError("SEARCH_LIMIT_PER_DAY must be at least SEARCH_LIMIT_PER_MINUTE")
    return per_minute, per_day


def _kept_in_instance(instance_path: str, filename: str, make: Callable[[], str]) -> str:
    """A development secret kept in the instance folder (never in the repository), so it survives a restart."""
    path = Path(instance_path) / filename
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(make() + "\n", encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def _audit_key(env: Mapping[str, str], environment: str, instance_path: str) -> str:
    """The checkpoint signing key: required in production, kept in the instance folder for development.

    A development key must outlive the process, or checkpoints signed yesterday could not be
    verified today; tests get a fresh one each run through the environment.
    """
    key = env.get("AUDIT_CHECKPOINT_KEY", "")
    if key:
        if len(key) < 32:
            raise ConfigError("AUDIT_CHECKPOINT_KEY must be at least 32 random characters")
        return key
    if environment == "production":
        raise ConfigError("AUDIT_CHECKPOINT_KEY must be set to at least 32 random characters in production")
    if environment == "testing":
        return secrets.token_urlsafe(32)
    return _kept_in_instance(instance_path, "audit_checkpoint.key", lambda: secrets.token_urlsafe(32))


@cache
def _testing_key(name: str) -> str:
    """One throwaway key per test process and setting, so every app a test builds reads the same secrets."""
    return Fernet.generate_key().decode()


def _fernet_keys(env: Mapping[str, str], name: str, environment: str, instance_path: str) -> tuple[str, ...]:
    """Comma-separated Fernet keys, newest first (older ones still decrypt, for rotation).

    Unset in production, none; in development a key kept in the instance folder, in tests a throwaway.
    """
    keys = tuple(key.strip() for key in env.get(name, "").split(",") if key.strip())
    for key in keys:
        try:
            Fernet(key)
        except ValueError as error:
            raise ConfigError(f"{name} must hold Fernet keys (Fernet.generate_key()), comma-separated") from error
    if keys or environment == "production":
        return keys
    if environment == "testing":
        return (_testing_key(name),)
    return (_kept_in_instance(instance_path, name.lower(), lambda: Fernet.generate_key().decode()),)


def _totp_key(env: Mapping[str, str], environment: str, instance_path: str) -> str:
    keys = _fernet_keys(env, "TOTP_ENCRYPTION_KEY", environment, instance_path)
    if not keys:
        raise ConfigError(
            "TOTP_ENCRYPTION_KEY must be set in production (a Fernet key: python -c "
            "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
        )
    return ",".join(keys)


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
    search_limit_per_minute, search_limit_per_day = _search_limits(env, environment)
    upload_max_bytes = _int(env, "UPLOAD_MAX_BYTES", Settings.upload_max_bytes)
    upload_quota_bytes = _int(env, "UPLOAD_QUOTA_BYTES", max(Settings.upload_quota_bytes, upload_max_bytes))
    if upload_quota_bytes < upload_max_bytes:
        raise ConfigError(
            "UPLOAD_QUOTA_BYTES must be at least UPLOAD_MAX_BYTES, or no organisation could store "
            "the largest upload allowed"
        )
    return Settings(
        environment=environment,
        secret_key=secret_key,
        database_url=database_url,
        totp_encryption_key=_totp_key(env, environment, instance_path),
        session_idle_minutes=_int(env, "SESSION_IDLE_MINUTES", 30),
        session_absolute_hours=_int(env, "SESSION_ABSOLUTE_HOURS", 12),
        account_lockout_failures=_int(env, "ACCOUNT_LOCKOUT_FAILURES", 5),
        address_lockout_failures=_int(env, "ADDRESS_LOCKOUT_FAILURES", 50),
        lockout_window_minutes=_int(env, "LOCKOUT_WINDOW_MINUTES", 15),
        trusted_proxy_hops=_int(env, "TRUSTED_PROXY_HOPS", 0, minimum=0),
        load_batch_rows=_int(env, "LOAD_BATCH_ROWS", 1000),
        load_workers=_int(env, "LOAD_WORKERS", default_load_workers(), minimum=0),
        dry_run_carried_records=_int(env, "DRY_RUN_CARRIED_RECORDS", Settings.dry_run_carried_records),
        upload_max_bytes=upload_max_bytes,
        upload_quota_bytes=upload_quota_bytes,
        upload_retention_hours=_int(env, "UPLOAD_RETENTION_HOURS", Settings.upload_retention_hours, minimum=0),
        log_level=env.get("LOG_LEVEL", "INFO"),
        identity_provider_keys=_fernet_keys(env, "IDENTITY_PROVIDER_KEYS", environment, instance_path),
        audit_checkpoint_key=_audit_key(env, environment, instance_path),
        audit_retention_days=_int(env, "AUDIT_RETENTION_DAYS", Settings.audit_retention_days),
        subject_access_shows_names=_flag(env, "SUBJECT_ACCESS_SHOWS_NAMES", False),
        working_hours=_working_hours(env),
        search_limit_per_minute=search_limit_per_minute,
        search_limit_per_day=search_limit_per_day,
        unusual_lookups_per_day=_int(env, "UNUSUAL_LOOKUPS_PER_DAY", Settings.unusual_lookups_per_day),
    )
