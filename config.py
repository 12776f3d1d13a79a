"""Configuration classes.

Nothing here reads the environment at import time: :func:`load_config` is called
by :func:`core.create_app` with the environment of that moment, so tests and
tools can build apps with different settings in one process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

KNOWN_DEFAULT_SECRETS = {"", "dev", "changeme", "change-me", "secret", "please-change-me"}


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


class Config:
    """Settings shared by every environment (development defaults)."""

    ENV_NAME = "development"
    DEBUG = False
    TESTING = False
    SECRET_KEY: str | None = None
    SQLALCHEMY_DATABASE_URI: str | None = None  # None: SQLite under the instance folder
    SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = {"pool_pre_ping": True}
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    SQLITE_BUSY_TIMEOUT_MS = 5000
    SQLITE_STRICT_TRANSACTIONS = False  # see core.database.install_sqlite_settings
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_ENABLED = True
    RATELIMIT_HEADERS_ENABLED = True
    LOGIN_RATE_LIMIT = "10 per minute;50 per hour"
    API_RATE_LIMIT = "300 per minute"
    BABEL_DEFAULT_LOCALE = "en"
    BABEL_DEFAULT_TIMEZONE = "UTC"
    BABEL_TRANSLATION_DIRECTORIES = "translations"
    LANGUAGES = ("en", "zh_CN")
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = False
    REMEMBER_COOKIE_DURATION_DAYS = 30
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    MAX_CONTENT_LENGTH = 16 * 1024 * 1024
    PROXY_FIX_HOPS = 0
    HSTS = False
    # argon2id parameters (RFC 9106 second recommended option: 64 MiB, 3 passes)
    ARGON2_TIME_COST = 3
    ARGON2_MEMORY_COST_KIB = 64 * 1024
    ARGON2_PARALLELISM = 4
    PAGE_SIZE = 25
    # Uploaded org charts wait here between preview and confirmation; with several
    # app hosts this must be a shared folder (default: <instance>/imports).
    ORGCHART_IMPORT_DIR: str | None = None
    ORGCHART_IMPORT_TTL_SECONDS = 3600
    # Background jobs (huey): "sqlite:///<path>" (default <instance>/tasks.sqlite3),
    # "redis://host:port/db" in production. TASKS_EAGER runs jobs inline (tests).
    TASK_QUEUE_URL: str | None = None
    TASKS_EAGER = False
    TASK_RETRIES = 3
    TASK_RETRY_DELAY_SECONDS = 60  # doubled after each failure, at most an hour
    # Email: MAIL_BACKEND "smtp" sends through MAIL_SERVER; "outbox" writes .eml files
    # to MAIL_OUTBOX_DIR (default <instance>/outbox) that admins browse in the app.
    MAIL_BACKEND = "outbox"
    MAIL_SERVER = "localhost"
    MAIL_PORT = 25
    MAIL_USERNAME: str | None = None
    MAIL_PASSWORD: str | None = None
    MAIL_USE_TLS = False  # STARTTLS
    MAIL_USE_SSL = False  # implicit TLS
    MAIL_TIMEOUT_SECONDS = 30
    MAIL_DEFAULT_SENDER = "Orbit <orbit@localhost>"
    MAIL_OUTBOX_DIR: str | None = None
    MAIL_BATCH_SIZE = 100
    # Files prepared by background exports (default <instance>/exports); with several
    # app hosts, a folder they all share.
    EXPORTS_DIR: str | None = None
    # Absolute base of links in emails and QR codes (e.g. https://survey.example.com);
    # default: the URL of the request that queued the work.
    PUBLIC_BASE_URL: str | None = None
    API_TITLE = "Orbit API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> dict[str, Any]:
        """Return this class's settings overridden by the environment."""
        settings = {k: getattr(cls, k) for k in dir(cls) if k.isupper()}
        if environ.get("SECRET_KEY"):
            settings["SECRET_KEY"] = environ["SECRET_KEY"]
        if environ.get("DATABASE_URL"):
            settings["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(environ["DATABASE_URL"])
        if environ.get("RATELIMIT_STORAGE_URI"):
            settings["RATELIMIT_STORAGE_URI"] = environ["RATELIMIT_STORAGE_URI"]
        if environ.get("ORGCHART_IMPORT_DIR"):
            settings["ORGCHART_IMPORT_DIR"] = environ["ORGCHART_IMPORT_DIR"]
        if environ.get("API_RATE_LIMIT"):
            settings["API_RATE_LIMIT"] = environ["API_RATE_LIMIT"]
        if environ.get("PROXY_FIX_HOPS"):
            settings["PROXY_FIX_HOPS"] = int(environ["PROXY_FIX_HOPS"])
        if environ.get("BABEL_DEFAULT_LOCALE"):
            settings["BABEL_DEFAULT_LOCALE"] = environ["BABEL_DEFAULT_LOCALE"]
        if environ.get("BABEL_DEFAULT_TIMEZONE"):
            settings["BABEL_DEFAULT_TIMEZONE"] = environ["BABEL_DEFAULT_TIMEZONE"]
        for key in (
            "TASK_QUEUE_URL", "MAIL_BACKEND", "MAIL_SERVER", "MAIL_USERNAME", "MAIL_PASSWORD",
            "MAIL_DEFAULT_SENDER", "MAIL_OUTBOX_DIR", "PUBLIC_BASE_URL", "EXPORTS_DIR",
        ):
            if environ.get(key):
                settings[key] = environ[key]
        for key in ("MAIL_PORT", "MAIL_TIMEOUT_SECONDS", "MAIL_BATCH_SIZE", "TASK_RETRIES",
                    "TASK_RETRY_DELAY_SECONDS"):
            if environ.get(key):
                settings[key] = int(environ[key])
        for key in ("SESSION_COOKIE_SECURE", "HSTS", "MAIL_USE_TLS", "MAIL_USE_SSL"):
            settings[key] = _flag(environ.get(key), settings[key])
        settings["REMEMBER_COOKIE_SECURE"] = settings["SESSION_COOKIE_SECURE"]
        return settings


class DevelopmentConfig(Config):
    ENV_NAME = "development"


class TestConfig(Config):
    ENV_NAME = "testing"
    TESTING = True
    SECRET_KEY = "test-secret-key-not-for-production"  # noqa: S105
    RATELIMIT_ENABLED = False
    WTF_CSRF_ENABLED = False
    SQLITE_STRICT_TRANSACTIONS = True
    ARGON2_TIME_COST = 1
    ARGON2_MEMORY_COST_KIB = 8
    ARGON2_PARALLELISM = 1
    TASKS_EAGER = True
    MAIL_BACKEND = "memory"  # sent messages kept in app.extensions["orbit_mail_sent"]

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> dict[str, Any]:
        settings = super().from_environ(environ)
        settings["SECRET_KEY"] = cls.SECRET_KEY
        settings["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(
            environ.get("TEST_DATABASE_URL") or "sqlite://"
        )
        return settings


class ProductionConfig(Config):
    ENV_NAME = "production"
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    HSTS = True
    RATELIMIT_STORAGE_URI = "redis://127.0.0.1:6379/0"
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    MAIL_BACKEND = "smtp"


CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "testing": TestConfig,
    "production": ProductionConfig,
}


def normalise_database_url(url: str) -> str:
    """Let ``postgres://`` and ``postgresql://`` URLs use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def load_config(name: str | None = None, environ: Mapping[str, str] | None = None) -> dict:
    """Settings for environment ``name`` (default: ``$ORBIT_ENV``, else production)."""
    environ = os.environ if environ is None else environ
    name = name or environ.get("ORBIT_ENV") or "production"
    try:
        cls = CONFIGS[name]
    except KeyError:
        raise RuntimeError(
            f"ORBIT_ENV={name!r} is not one of {', '.join(sorted(CONFIGS))}"
        ) from None
    return cls.from_environ(environ)
