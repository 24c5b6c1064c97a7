"""echoshare settings: everything comes from the environment (docs/configuration.md).

The embedded default (nothing set) is the demo: role `all`, SQLite and local folders under
ECHOSHARE_DATA_DIR, console/file outboxes. Production sets ECHOSHARE_DEBUG=no, a secret key,
hosts and the role of the tier.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

from django.core.exceptions import ImproperlyConfigured

from echoshare.lib.env import (
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent

# --- Tier and basics ------------------------------------------------------------------------
ROLE = env_choice("ECHOSHARE_ROLE", "all", ("all", "clinic", "portal"))
SERVES_CLINIC = ROLE in ("all", "clinic")
SERVES_PORTAL = ROLE in ("all", "portal")

DEBUG = env_bool("ECHOSHARE_DEBUG", False)
DATA_DIR = Path(env_str("ECHOSHARE_DATA_DIR", str(Path.cwd() / "echoshare-data"))).resolve()

_DEV_SECRET = "echoshare-embedded-default-not-secret"  # noqa: S105 - flagged by check E002
SECRET_KEY = env_str("ECHOSHARE_SECRET_KEY", _DEV_SECRET)
# Key for the keyed hashes of link tokens and API keys; separate from SECRET_KEY so that
# rotating the session key does not invalidate every link.
TOKEN_HASH_KEY = env_str("ECHOSHARE_TOKEN_HASH_KEY", "token-hash:" + SECRET_KEY)

ALLOWED_HOSTS = env_list("ECHOSHARE_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("ECHOSHARE_CSRF_TRUSTED_ORIGINS", [])

# Public base URL of the portal (the start of the link patients get) and, for the clinic
# tier, where it reaches the portal's API and with which key.
PORTAL_URL = env_str("ECHOSHARE_PORTAL_URL", "http://127.0.0.1:8000").rstrip("/")
PORTAL_API_URL = env_str("ECHOSHARE_PORTAL_API_URL", PORTAL_URL).rstrip("/")
PORTAL_API_KEY = env_str("ECHOSHARE_PORTAL_API_KEY", "")

# --- Applications ---------------------------------------------------------------------------
_SHARED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tasks",
    "django_tasks_db",
    "echoshare.core",
    "echoshare.jobs",
]
_PORTAL_APPS = ["echoshare.portal"]
_CLINIC_APPS = [
    "django.contrib.admin",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "echoshare.audit",
    "echoshare.clinic",
    "echoshare.archive",
    "echoshare.dicomnet",
    "echoshare.imaging",
    "echoshare.notify",
]
INSTALLED_APPS = (
    _SHARED_APPS + (_CLINIC_APPS if SERVES_CLINIC else []) + (_PORTAL_APPS if SERVES_PORTAL else [])
)

MIDDLEWARE = [
    "echoshare.core.middleware.SecurityHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    *(["django_otp.middleware.OTPMiddleware"] if SERVES_CLINIC else []),
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "echoshare.urls"
WSGI_APPLICATION = "echoshare.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]


# --- Database -------------------------------------------------------------------------------
def _database(url: str) -> dict[str, object]:
    """DATABASE_URL: sqlite:///absolute/path or postgres://user@host:port/name."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = unquote(parsed.path) or str(DATA_DIR / "echoshare.sqlite3")
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": path,
            # Several processes (web, worker, DICOM) share the file: WAL lets readers run
            # beside one writer, IMMEDIATE takes the write lock at BEGIN so a transaction
            # never fails half-way on upgrade, and the busy timeout waits instead of raising
            # "database is locked". synchronous=FULL: a commit survives a power cut.
            "OPTIONS": {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": (
                    "PRAGMA journal_mode=WAL;"
                    "PRAGMA synchronous=FULL;"
                    "PRAGMA busy_timeout=30000;"
                    "PRAGMA foreign_keys=ON;"
                ),
            },
            # A file, not memory: tests start workers and DICOM listeners as subprocesses
            # that must see the same database (and WAL needs a file).
            "TEST": {
                "NAME": env_str("ECHOSHARE_TEST_SQLITE", "")
                or str(Path(tempfile.gettempdir()) / f"echoshare-test-{os.getpid()}.sqlite3")
            },
        }
    if parsed.scheme in ("postgres", "postgresql"):
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parsed.path.lstrip("/")) or "echoshare",
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname or "",
            "PORT": str(parsed.port or ""),
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
            "TEST": {"NAME": env_str("ECHOSHARE_TEST_PGDATABASE", "") or None},
        }
    raise ImproperlyConfigured(f"DATABASE_URL: unsupported scheme {parsed.scheme!r}")


DATABASES = {"default": _database(env_str("DATABASE_URL", "sqlite://"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Tasks ----------------------------------------------------------------------------------
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
JOB_MAX_ATTEMPTS = env_int("ECHOSHARE_JOB_MAX_ATTEMPTS", 5, minimum=1)
JOB_RETRY_BASE_SECONDS = env_int("ECHOSHARE_JOB_RETRY_BASE_SECONDS", 30, minimum=0)
JOB_STALE_SECONDS = env_int("ECHOSHARE_JOB_STALE_SECONDS", 60, minimum=5)

# --- Time and language ----------------------------------------------------------------------
USE_TZ = True  # stored in UTC
TIME_ZONE = env_str("ECHOSHARE_TIME_ZONE", "Europe/Amsterdam")  # shown and "today"
USE_I18N = True
LANGUAGE_CODE = env_choice("ECHOSHARE_LANGUAGE", "nl", ("nl", "en"))
LANGUAGES = [("nl", "Nederlands"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"

# --- Portal files and serving ---------------------------------------------------------------
PORTAL_MEDIA_DIR = Path(env_str("ECHOSHARE_PORTAL_MEDIA_DIR", str(DATA_DIR / "portal-media")))
# "stream": Python sends the bytes (large blocks, Range); "x-accel": nginx sends them.
PORTAL_MEDIA_OFFLOAD = env_choice("ECHOSHARE_PORTAL_MEDIA_OFFLOAD", "stream", ("stream", "x-accel"))
PORTAL_X_ACCEL_PREFIX = env_str("ECHOSHARE_PORTAL_X_ACCEL_PREFIX", "/protected-media/")
PORTAL_MAX_ITEM_MB = env_int("ECHOSHARE_PORTAL_MAX_ITEM_MB", 300, minimum=1)
DEFAULT_SHARE_MONTHS = env_int("ECHOSHARE_DEFAULT_SHARE_MONTHS", 2, minimum=1, maximum=24)
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = None

# --- Clinic archive -------------------------------------------------------------------------
ARCHIVE_DIR = Path(env_str("ECHOSHARE_ARCHIVE_DIR", str(DATA_DIR / "archive")))
RETENTION_YEARS = env_int("ECHOSHARE_RETENTION_YEARS", 20)

# --- Security -------------------------------------------------------------------------------
SESSION_COOKIE_SECURE = env_bool("ECHOSHARE_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "no-referrer"
SECURE_HSTS_SECONDS = env_int("ECHOSHARE_HSTS_SECONDS", 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = False
SECURE_SSL_REDIRECT = env_bool("ECHOSHARE_SSL_REDIRECT", False)
X_FRAME_OPTIONS = "DENY"
# Behind nginx: the header nginx sets with the original scheme.
if env_bool("ECHOSHARE_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# --- Logging --------------------------------------------------------------------------------
LOG_LEVEL = env_choice("ECHOSHARE_LOG_LEVEL", "info", ("debug", "info", "warning", "error"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"scrub": {"()": "echoshare.core.logging.ScrubFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["scrub"]}
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL.upper()},
    "loggers": {
        # Django logs every 4xx with its full path; the path holds the link token.
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
        "django.server": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        "pynetdicom": {"level": "WARNING"},
    },
}
