"""Settings for Import Center, read from the environment (see README "Configuration").

Development (the default, `ENVIRONMENT=development`) runs on embedded defaults: a SQLite file
and a filesystem Celery broker under `var/`, secrets generated once into `var/`.
Production (`ENVIRONMENT=production`) refuses to start without real secrets and hosts.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from pathlib import Path

import dj_database_url
from cryptography.fernet import Fernet

from importcenter.env import (
    ImproperlyConfiguredEnv,
    envbool,
    envint,
    envlist,
    envstr,
    generated_secret,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(envstr("IMPORT_CENTER_VAR_DIR", str(BASE_DIR / "var")))

ENVIRONMENT = envstr("ENVIRONMENT", "development")
if ENVIRONMENT not in {"development", "production"}:
    raise ImproperlyConfiguredEnv(
        f"ENVIRONMENT={ENVIRONMENT!r} must be 'development' or 'production'."
    )
PRODUCTION = ENVIRONMENT == "production"

DEBUG = envbool("DEBUG", False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfiguredEnv("DEBUG must be off when ENVIRONMENT=production.")


def _required_in_production(name: str, make) -> str:
    value = envstr(name)
    if value:
        return value
    if PRODUCTION:
        raise ImproperlyConfiguredEnv(f"{name} is required when ENVIRONMENT=production.")
    return generated_secret(VAR_DIR / "secrets" / name.lower(), make)


SECRET_KEY = _required_in_production("SECRET_KEY", lambda: secrets.token_urlsafe(50))
# Comma-separated Fernet keys; the first encrypts, all decrypt (key rotation).
FIELD_ENCRYPTION_KEYS = _required_in_production(
    "FIELD_ENCRYPTION_KEY", lambda: Fernet.generate_key().decode()
).split(",")

ALLOWED_HOSTS = envlist(
    "ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"]
)
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfiguredEnv("ALLOWED_HOSTS is required when ENVIRONMENT=production.")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_filters",
    "django_htmx",
    "template_partials",
    "ninja",  # its static files: the API docs page's Swagger UI, served locally
    "imports",
    "stats",
    "api",
    "auditlog",
    "history",
    "alerts",
]

MIDDLEWARE = [
    # First, so it turns a database outage met anywhere below into the 503 page.
    "imports.middleware.DatabaseOutageMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "imports.middleware.UserTimezoneMiddleware",
    # Tags the change history's entries with who made them and from where (page, admin, API).
    "imports.audit.AuditContextMiddleware",
    "api.middleware.MethodNotAllowedProblem",
]

ROOT_URLCONF = "importcenter.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "imports.context_processors.roles",
            ],
        },
    }
]

WSGI_APPLICATION = "importcenter.wsgi.application"
ASGI_APPLICATION = "importcenter.asgi.application"

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = envstr("DATABASE_URL", f"sqlite:///{VAR_DIR / 'importcenter.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    (VAR_DIR).mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # IMMEDIATE takes the write lock at BEGIN, so concurrent writers (web + worker)
        # queue on `timeout` instead of failing with "database is locked" mid-transaction.
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not :memory:, so a Celery worker subprocess in tests sees the same data; one per
    # test process, so two test runs on one checkout never share a database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # libpq waits forever for an unanswering host: a page (and /healthz) gives up after 5 s and
    # answers the outage page. `?connect_timeout=N` in DATABASE_URL overrides it.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = envstr("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    # Kombu's filesystem transport, with messages renamed into the queue whole (see broker.py).
    CELERY_BROKER_TRANSPORT = "importcenter.broker:Transport"
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # a task whose worker dies is redelivered, not lost
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Product settings -----------------------------------------------------------------------
IMPORT_STATS_RETENTION_DAYS = envint("IMPORT_STATS_RETENTION_DAYS", 30, minimum=1)
IMPORT_MIN_INTERVAL_MINUTES = envint("IMPORT_MIN_INTERVAL_MINUTES", 15, minimum=1)
IMPORT_BATCH_SIZE = envint("IMPORT_BATCH_SIZE", 10_000, minimum=100)
IMPORT_CHUNK_SIZE = envint("IMPORT_CHUNK_SIZE", 100_000, minimum=1000)
IMPORT_HEARTBEAT_TIMEOUT_SECONDS = envint("IMPORT_HEARTBEAT_TIMEOUT_SECONDS", 180, minimum=10)
# How long a run waits on one answer of the warehouse (its COUNT(*), the next rows of its
# stream: a table or advisory lock can block them indefinitely) before its statement is
# cancelled and the run fails.
# What a failed record keeps of the source (imports.failed_values): `full` the rejected values
# and the source row (which Retry needs), `masked` only each rejected value's shape, `off` nothing.
IMPORT_KEEP_FAILED_VALUES = (envstr("IMPORT_KEEP_FAILED_VALUES", "full") or "full").lower()
if IMPORT_KEEP_FAILED_VALUES not in ("full", "masked", "off"):
    raise ImproperlyConfiguredEnv(
        f"IMPORT_KEEP_FAILED_VALUES must be full, masked or off, not {IMPORT_KEEP_FAILED_VALUES!r}."
    )
IMPORT_WAREHOUSE_TIMEOUT_SECONDS = envint("IMPORT_WAREHOUSE_TIMEOUT_SECONDS", 600, minimum=1)
# The widest source the wizard maps. Its Mapping step posts 5 fields per column (column, include,
# target, data type, date format) plus a dozen for the header and CSRF: Django's default limit
# of 1,000 fields refused sources of ~198 columns and more, losing the whole mapping.
IMPORT_MAX_MAPPING_COLUMNS = envint("IMPORT_MAX_MAPPING_COLUMNS", 2_000, minimum=200)
DATA_UPLOAD_MAX_NUMBER_FIELDS = IMPORT_MAX_MAPPING_COLUMNS * 5 + 100
DEMO_WAREHOUSE_PATH = Path(envstr("DEMO_WAREHOUSE_PATH", str(VAR_DIR / "demo_warehouse.duckdb")))
# Folders whose files DuckDB datasources may open (relative ones are taken from the project
# folder). The application's secrets under VAR_DIR stay unreadable whatever is listed here.
DUCKDB_ALLOWED_ROOTS = [
    str((BASE_DIR / root).resolve()) for root in envlist("DUCKDB_ALLOWED_ROOTS", [str(VAR_DIR)])
]

# --- HTTP API and metrics ------------------------------------------------------------------
# Trigger requests (POST /api/v1/imports/{code}/runs) per token (or signed-in user) per minute.
API_TRIGGER_RATE_LIMIT = envint("API_TRIGGER_RATE_LIMIT", 30, minimum=1)
# The bearer token Prometheus sends to /metrics; unset, /metrics answers 404.
METRICS_TOKEN = envstr("METRICS_TOKEN", "")

# --- Change history (django-auditlog; history/apps.py says what is tracked) ------------------
# Changes as JSON values (a mapping stays a mapping, so the History tab can diff it per column).
AUDITLOG_STORE_JSON_CHANGES = True
# A foreign key's change reads as names ("Warehouse A → Warehouse B"), not ids.
AUDITLOG_USE_FK_STRING_REPRESENTATION = True

# --- Alerts and email ----------------------------------------------------------------------
# Where links in notifications point (emails and Slack messages have no page to be relative
# to). Not derived from PORT: honcho gives each process of `make run` a port of its own.
SITE_URL = envstr(
    "SITE_URL", f"https://{ALLOWED_HOSTS[0]}" if PRODUCTION else "http://127.0.0.1:8000"
)
# Channels configured as code, used by every import that follows the default alert rules. In
# development with DEBUG on (`make run`), alerts go to a local address through the console
# email backend, so the worker's output shows them.
ALERT_EMAIL_TO = envlist("ALERT_EMAIL_TO", ["alerts@localhost"] if DEBUG and not PRODUCTION else [])
ALERT_WEBHOOK_URL = envstr("ALERT_WEBHOOK_URL")
ALERT_SLACK_WEBHOOK_URL = envstr("ALERT_SLACK_WEBHOOK_URL")
ALERT_WEBHOOK_SECRET = envstr("ALERT_WEBHOOK_SECRET")
if ALERT_WEBHOOK_URL and not ALERT_WEBHOOK_SECRET:
    raise ImproperlyConfiguredEnv(
        "ALERT_WEBHOOK_SECRET is required with ALERT_WEBHOOK_URL: webhooks are always signed."
    )
if ALERT_WEBHOOK_SECRET:
    try:
        _secret = base64.b64decode(ALERT_WEBHOOK_SECRET.removeprefix("whsec_"), validate=True)
    except binascii.Error:
        _secret = b""
    if len(_secret) < 16:
        raise ImproperlyConfiguredEnv(
            "ALERT_WEBHOOK_SECRET must be whsec_ followed by base64 of at least 16 bytes."
        )
# Run-lifecycle events the ALERT_WEBHOOK_URL webhook receives, for every import: none, all
# (started, completed, failed, stopped, skipped), ended (all but started) or failed.
RUN_WEBHOOK_EVENTS = envstr("RUN_WEBHOOK_EVENTS", "none").strip().lower() or "none"
if RUN_WEBHOOK_EVENTS not in ("none", "all", "ended", "failed"):
    raise ImproperlyConfiguredEnv("RUN_WEBHOOK_EVENTS must be none, all, ended or failed.")
# Seconds before each retry of a failed delivery; its length is the number of retries.
try:
    ALERT_RETRY_SECONDS = [
        int(s) for s in envlist("ALERT_RETRY_SECONDS", ["10", "60", "300", "1800", "7200"])
    ]
except ValueError:
    raise ImproperlyConfiguredEnv(
        "ALERT_RETRY_SECONDS must be comma-separated whole seconds, e.g. 10,60,300."
    ) from None

# Email: SMTP when EMAIL_HOST is set (or in production); the console in development.
EMAIL_HOST = envstr("EMAIL_HOST", "localhost")
EMAIL_BACKEND = envstr(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION or envstr("EMAIL_HOST")
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_PORT = envint("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = envstr("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = envstr("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = envbool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = envint("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "Import Center <importcenter@localhost>")

# --- Auth, i18n, static ---------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "imports-listing"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = envstr("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
if not PRODUCTION:
    # WhiteNoise warns about a missing root; in development static files come from the apps.
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- Security -------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# docker-compose's health check calls http://127.0.0.1:8000/healthz inside the container, where
# no proxy adds X-Forwarded-Proto: redirected to https, it would always fail. A Prometheus
# scraper inside the cluster calls /metrics the same way (it sends its bearer token regardless).
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = envbool("SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {
        "client_error": {"()": "importcenter.logfilters.ClientErrorWithoutTraceback"},
        "outage_logged_once": {"()": "importcenter.logfilters.OutageLoggedOnce"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Django's default config gives `django` a console handler of its own when DEBUG is
        # on; with the root's console that printed every django record (and a 403's
        # traceback) twice. Its records reach the root's handler only.
        "django": {"handlers": [], "propagate": True},
        "django.request": {"filters": ["client_error", "outage_logged_once"]},
    },
}
