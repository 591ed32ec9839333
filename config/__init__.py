"""Settings: defaults in classes, then environment variables (BUNGKESMAS_*, DATABASE_URL).

`BUNGKESMAS_ENV` picks the class: production (the default, so a bare `gunicorn wsgi:app`
is never accidentally insecure), development or testing.
"""

from __future__ import annotations

import math
import os
import secrets
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ROOT / "instance"

# Secret keys that must never be accepted in production.
_WEAK_SECRETS = {"", "dev", "secret", "changeme", "change-me", "development"}


class ConfigError(RuntimeError):
    """A setting the app cannot start with; the message names the variable."""


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def _number(name: str, default: float, kind: type = int, minimum: float = 0):
    """A numeric setting from the environment: a clear error naming the variable instead
    of Python's `invalid literal for int()` when it is not one."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = kind(raw.strip())
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value < minimum:
        what = "a whole number" if kind is int else "a number"
        raise ConfigError(f"{name} must be {what} of at least {minimum:g}, not {raw!r}.")
    return value


# Settings in limits' notation ("10 per minute;50 per hour"), checked at start-up: a
# wrong one would otherwise fail every request it limits.
RATE_LIMIT_SETTINGS = ("LOGIN_RATE_LIMIT", "STATUS_RATE_LIMIT",
                       "STATUS_IDENTIFIER_RATE_LIMIT", "CARD_RATE_LIMIT")


def _check_common(config: dict) -> None:
    """What every environment must get right."""
    from limits import parse_many

    for name in RATE_LIMIT_SETTINGS:
        if name not in config:
            continue
        value = config[name]
        try:
            if not value or not parse_many(value):
                raise ValueError(value)
        except ValueError:
            raise ConfigError(f"BUNGKESMAS_{name} must be limits such as "
                              f"'10 per minute;50 per hour', not {value!r}.") from None
    if config.get("IMPORT_JOBS", "thread") not in ("thread", "inline"):
        raise ConfigError("BUNGKESMAS_IMPORT_JOBS must be 'thread' or 'inline', not "
                          f"{config.get('IMPORT_JOBS')!r}.")


def _sqlite_default() -> str:
    return f"sqlite:///{INSTANCE / 'bungkesmas.db'}"


class Config:
    ENV_NAME = "production"
    SECRET_KEY = _env("BUNGKESMAS_SECRET_KEY")
    SQLALCHEMY_DATABASE_URI = _env("DATABASE_URL") or _sqlite_default()
    # Migrations run as the schema owner; the app itself runs as a role without
    # BYPASSRLS (see BUNGKESMAS_DB_ROLE). Defaults to DATABASE_URL.
    MIGRATION_DATABASE_URI = _env("BUNGKESMAS_MIGRATION_DATABASE_URL")
    # PostgreSQL role the app switches to on every connection, so Row-Level Security
    # applies even when the login role owns the tables. Empty to disable (when the
    # login role itself is the unprivileged application role).
    DB_APP_ROLE = _env("BUNGKESMAS_DB_ROLE", "bungkesmas_app")
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    # PostgreSQL: a pooled connection is pinged before use only when it sat idle longer
    # than this (bungkesmas.connections); 0 pings at every checkout (pool_pre_ping).
    DB_PING_IDLE_SECONDS = _number("BUNGKESMAS_DB_PING_IDLE_SECONDS", 10.0, float)

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = True
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
    MAX_CONTENT_LENGTH = 2 * 1024 * 1024

    WTF_CSRF_TIME_LIMIT = None  # tied to the session instead; pages stay open for hours

    BABEL_DEFAULT_LOCALE = "id"
    BABEL_DEFAULT_TIMEZONE = "Asia/Makassar"  # WITA, South Sulawesi
    LANGUAGES = ("id", "en")

    RATELIMIT_STORAGE_URI = _env("BUNGKESMAS_RATELIMIT_STORAGE_URI", "memory://")
    LOGIN_RATE_LIMIT = _env("BUNGKESMAS_LOGIN_RATE_LIMIT", "10 per minute;50 per hour")
    # The member's status check (/cek and POST /api/v1/status, shared): per address, and
    # per identifier (member number or NIK, keyed by a hash) from any address — the
    # latter is what stops guessing a known member's birth date. The card page
    # (/cek/<token>) per address.
    STATUS_RATE_LIMIT = _env("BUNGKESMAS_STATUS_RATE_LIMIT", "10 per minute;60 per hour")
    STATUS_IDENTIFIER_RATE_LIMIT = _env("BUNGKESMAS_STATUS_IDENTIFIER_RATE_LIMIT",
                                        "5 per 15 minutes;20 per day")
    CARD_RATE_LIMIT = _env("BUNGKESMAS_CARD_RATE_LIMIT", "30 per minute;300 per hour")

    # Argon2id parameters: RFC 9106 "low memory" profile, above the OWASP minimum
    # (m=19 MiB, t=2, p=1).
    ARGON2_TIME_COST = 3
    ARGON2_MEMORY_COST = 65536
    ARGON2_PARALLELISM = 4

    # NIK protection: a Fernet key for encryption at rest and a key for the lookup digest.
    NIK_ENCRYPTION_KEY = _env("BUNGKESMAS_NIK_ENCRYPTION_KEY")
    NIK_DIGEST_KEY = _env("BUNGKESMAS_NIK_DIGEST_KEY")
    CONSENT_VERSION = "2026-11"

    # Member imports: files up to IMPORT_INLINE_ROWS rows are checked and written within
    # the request; larger ones by a background job ("thread": a thread of the process that
    # took the request; "inline": in the request after its commit — deterministic, for
    # tests). A job without a sign of life for IMPORT_JOB_STALE_AFTER seconds is shown as
    # stopped and may be run again (`flask imports run`, or confirm again).
    IMPORT_JOBS = _env("BUNGKESMAS_IMPORT_JOBS", "thread")
    IMPORT_INLINE_ROWS = _number("BUNGKESMAS_IMPORT_INLINE_ROWS", 2000)
    IMPORT_JOB_STALE_AFTER = _number("BUNGKESMAS_IMPORT_JOB_STALE_AFTER", 300, minimum=1)

    MAILER = _env("BUNGKESMAS_MAILER", "outbox")
    # Reminders (`flask reminders send`): the sender — "log" (the default: write to the
    # log) or the import path of a class — and when reminders are due.
    REMINDER_SENDER = _env("BUNGKESMAS_REMINDER_SENDER", "log")
    REMINDER_DAYS_BEFORE = _number("BUNGKESMAS_REMINDER_DAYS_BEFORE", 7)
    REMINDER_LAPSED_DAYS = _number("BUNGKESMAS_REMINDER_LAPSED_DAYS", 30)
    REMINDER_MAX_ATTEMPTS = _number("BUNGKESMAS_REMINDER_MAX_ATTEMPTS", 3, minimum=1)
    MAIL_FROM = _env("BUNGKESMAS_MAIL_FROM", "noreply@bungkesmas.id")
    # Used to build absolute links in e-mails sent outside a request (CLI).
    BASE_URL = _env("BUNGKESMAS_BASE_URL", "http://127.0.0.1:5000")
    INVITATION_TTL = timedelta(days=7)

    # MOUs: the provider's name in the generated MOU text; where MOU documents are stored
    # (outside the web root; default instance/uploads/mous) and how large an upload may be.
    PROVIDER_NAME = _env("BUNGKESMAS_PROVIDER_NAME", "Program Bungkesmas")
    MOU_STORAGE_DIR = _env("BUNGKESMAS_MOU_STORAGE_DIR")
    MOU_MAX_BYTES = _number("BUNGKESMAS_MOU_MAX_BYTES", 10 * 1024 * 1024, minimum=1)

    # Online payment through Stripe Checkout (bungkesmas/payments). Without the secret key
    # and the webhook signing secret the online option is hidden and its pages say so.
    # STRIPE_API_BASE points the official library at another address (a local fake).
    STRIPE_SECRET_KEY = _env("BUNGKESMAS_STRIPE_SECRET_KEY")
    STRIPE_WEBHOOK_SECRET = _env("BUNGKESMAS_STRIPE_WEBHOOK_SECRET")
    STRIPE_API_BASE = _env("BUNGKESMAS_STRIPE_API_BASE")
    # How long a payment link a partner sends (or the status page shows) stays valid.
    PAY_LINK_DAYS = _number("BUNGKESMAS_PAY_LINK_DAYS", 14, minimum=1)

    API_TITLE = "Bungkesmas Partner Platform API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api/v1"
    OPENAPI_JSON_PATH = "openapi.json"

    @classmethod
    def validate(cls, config: dict) -> None:
        """Refuse to start with settings that are unsafe for this environment."""
        _check_common(config)
        key = config.get("SECRET_KEY") or ""
        if key.lower() in _WEAK_SECRETS or len(key) < 32:
            raise RuntimeError(
                "BUNGKESMAS_SECRET_KEY must be set to a random value of at least 32 "
                "characters in production (e.g. `python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))'`)."
            )
        for name in ("NIK_ENCRYPTION_KEY", "NIK_DIGEST_KEY"):
            if not config.get(name):
                raise RuntimeError(f"BUNGKESMAS_{name} must be set in production "
                                   "(see README, Configuration).")
        if config.get("STRIPE_SECRET_KEY") and not config.get("STRIPE_WEBHOOK_SECRET"):
            # Payments could be taken but never recorded.
            raise RuntimeError("BUNGKESMAS_STRIPE_WEBHOOK_SECRET must be set together with "
                               "BUNGKESMAS_STRIPE_SECRET_KEY (see README, Online payment).")


class DevelopmentConfig(Config):
    ENV_NAME = "development"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_SECURE = False

    @classmethod
    def validate(cls, config: dict) -> None:
        _check_common(config)
        if not config.get("SECRET_KEY"):
            config["SECRET_KEY"] = _instance_secret()
        if not config.get("NIK_ENCRYPTION_KEY"):
            config["NIK_ENCRYPTION_KEY"] = _instance_secret("nik_encryption_key", fernet=True)
        if not config.get("NIK_DIGEST_KEY"):
            config["NIK_DIGEST_KEY"] = _instance_secret("nik_digest_key")


class TestingConfig(DevelopmentConfig):
    ENV_NAME = "testing"
    TESTING = True
    SECRET_KEY = "testing-secret-key-not-for-production-use-000"  # noqa: S105
    NIK_ENCRYPTION_KEY = "dGVzdGluZy1rZXktbm90LWZvci1wcm9kdWN0aW9uLTA="
    NIK_DIGEST_KEY = "testing-digest-key"
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    RATELIMIT_STORAGE_URI = "memory://"
    IMPORT_JOBS = "inline"  # background import jobs run deterministically
    # Online payment is off unless a test turns it on (with a local fake Stripe).
    STRIPE_SECRET_KEY = None
    STRIPE_WEBHOOK_SECRET = None
    STRIPE_API_BASE = None
    # Cheap hashing keeps the suite fast; production strength is tested separately.
    ARGON2_TIME_COST = 1
    ARGON2_MEMORY_COST = 1024
    ARGON2_PARALLELISM = 1
    SERVER_NAME = None


def _instance_secret(name: str = "secret_key", fernet: bool = False) -> str:
    """Generate a development secret once and keep it under instance/ (never committed)."""
    path = INSTANCE / name
    if not path.exists():
        INSTANCE.mkdir(parents=True, exist_ok=True)
        if fernet:
            from cryptography.fernet import Fernet

            path.write_text(Fernet.generate_key().decode())
        else:
            path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


CONFIGS = {
    "production": Config,
    "development": DevelopmentConfig,
    "testing": TestingConfig,
}


def config_class(name: str | None = None) -> type[Config]:
    name = name or os.environ.get("BUNGKESMAS_ENV", "production")
    try:
        return CONFIGS[name]
    except KeyError:
        raise RuntimeError(f"Unknown BUNGKESMAS_ENV {name!r}; use one of {sorted(CONFIGS)}") from None
