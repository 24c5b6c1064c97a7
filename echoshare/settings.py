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
_LOCAL_WEB = f"http://127.0.0.1:{env_int('ECHOSHARE_HTTP_PORT', 8000, minimum=0, maximum=65535)}"
PORTAL_URL = env_str("ECHOSHARE_PORTAL_URL", _LOCAL_WEB).rstrip("/")
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
    "echoshare.clinic.staff",  # staff pages and system monitoring (label "staffpages")
]
INSTALLED_APPS = (
    _SHARED_APPS + (_CLINIC_APPS if SERVES_CLINIC else []) + (_PORTAL_APPS if SERVES_PORTAL else [])
)

MIDDLEWARE = [
    "echoshare.core.middleware.SecurityHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files straight from the apps' folders: the embedded default works with DEBUG
    # off and without collectstatic; behind nginx, nginx may serve STATIC_ROOT instead.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    *(
        [
            "django_otp.middleware.OTPMiddleware",
            "echoshare.clinic.middleware.StaffIdleMiddleware",
            # Audits every 403 a logged-in staff member gets (NEN 7513); clinic tier only.
            "echoshare.clinic.middleware.AccessDeniedAuditMiddleware",
        ]
        if SERVES_CLINIC
        else []
    ),
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
            # Persistent connections (per thread): opening one and running the PRAGMAs
            # above cost more than the rest of a small authorized photo (docs/performance.md,
            # Portal). init_command runs on every new connection, so each still gets them.
            "CONN_MAX_AGE": 600,
            "CONN_HEALTH_CHECKS": True,
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
# Jobs (echoshare.jobs): retry cap, heartbeat, shutdown grace, scheduler lease.
JOB_RETRY_MAX_SECONDS = env_int("ECHOSHARE_JOB_RETRY_MAX_SECONDS", 3600, minimum=0)
JOB_HEARTBEAT_SECONDS = env_int("ECHOSHARE_JOB_HEARTBEAT_SECONDS", 5, minimum=1)
JOB_SHUTDOWN_GRACE_SECONDS = env_int("ECHOSHARE_JOB_SHUTDOWN_GRACE_SECONDS", 10, minimum=0)
JOB_SCHEDULER_LEASE_SECONDS = env_int("ECHOSHARE_JOB_SCHEDULER_LEASE_SECONDS", 30, minimum=2)

# --- Processes (echoshare run / web) --------------------------------------------------------
HTTP_HOST = env_str("ECHOSHARE_HTTP_HOST", "127.0.0.1")
HTTP_PORT = env_int("ECHOSHARE_HTTP_PORT", 8000, minimum=0, maximum=65535)
WEB_WORKERS = env_int("ECHOSHARE_WEB_WORKERS", 2, minimum=1)
WEB_THREADS = env_int("ECHOSHARE_WEB_THREADS", 4, minimum=1)
WEB_TIMEOUT_SECONDS = env_int("ECHOSHARE_WEB_TIMEOUT_SECONDS", 60, minimum=5)
# gunicorn trusts X-Forwarded-* only from ECHOSHARE_TRUSTED_PROXIES (see Portal below).
ACCESS_LOG = env_bool("ECHOSHARE_ACCESS_LOG", True)

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
WHITENOISE_USE_FINDERS = True

# --- Portal files and serving ---------------------------------------------------------------
PORTAL_MEDIA_DIR = Path(env_str("ECHOSHARE_PORTAL_MEDIA_DIR", str(DATA_DIR / "portal-media")))
# "stream": Python sends the bytes (large blocks, Range); "x-accel": nginx sends them.
PORTAL_MEDIA_OFFLOAD = env_choice("ECHOSHARE_PORTAL_MEDIA_OFFLOAD", "stream", ("stream", "x-accel"))
PORTAL_X_ACCEL_PREFIX = env_str("ECHOSHARE_PORTAL_X_ACCEL_PREFIX", "/protected-media/")
PORTAL_MAX_ITEM_MB = env_int("ECHOSHARE_PORTAL_MAX_ITEM_MB", 300, minimum=1)
DEFAULT_SHARE_MONTHS = env_int("ECHOSHARE_DEFAULT_SHARE_MONTHS", 2, minimum=1, maximum=24)
# Portal core: requests per minute from one client address to the guessable endpoints
# (password, delete code, failed API logins) before 429 + Retry-After (SECURITY C3).
PORTAL_BURST_LIMIT = env_int("ECHOSHARE_PORTAL_BURST_LIMIT", 30, minimum=1)
# Addresses/networks of the reverse proxies whose X-Forwarded-For gives the client address.
TRUSTED_PROXIES = env_list("ECHOSHARE_TRUSTED_PROXIES", ["127.0.0.1/32", "::1/128"])
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = None

# --- Clinic archive -------------------------------------------------------------------------
ARCHIVE_DIR = Path(env_str("ECHOSHARE_ARCHIVE_DIR", str(DATA_DIR / "archive")))
RETENTION_YEARS = env_int("ECHOSHARE_RETENTION_YEARS", 20)
# Largest decoded pixel size (Rows x Columns x frames x samples x bits) an incoming instance
# may claim: refuses absurd dimensions before anything downstream tries to decode them.
ARCHIVE_MAX_PIXEL_MB = env_int("ECHOSHARE_ARCHIVE_MAX_PIXEL_MB", 2048, minimum=1)
ARCHIVE_UPLOAD_MAX_MB = env_int("ECHOSHARE_ARCHIVE_UPLOAD_MAX_MB", 1024, minimum=1)

# --- Imaging (echoshare.imaging) ------------------------------------------------------------
# What patients get: JPEG stills, thumbnails and H.264 clips, rendered in the task worker.
IMAGING_JPEG_QUALITY = env_int("ECHOSHARE_IMAGING_JPEG_QUALITY", 90, minimum=50, maximum=100)
IMAGING_THUMBNAIL_SIZE = env_int("ECHOSHARE_IMAGING_THUMBNAIL_SIZE", 320, minimum=64, maximum=2048)
# Rows x Columns x frames an item may have; checked from the header before decoding.
IMAGING_PIXEL_BUDGET = env_int("ECHOSHARE_IMAGING_PIXEL_BUDGET", 600_000_000, minimum=1_000_000)
IMAGING_H264_CRF = env_int("ECHOSHARE_IMAGING_H264_CRF", 23, minimum=0, maximum=51)
IMAGING_H264_PRESET = env_choice(
    "ECHOSHARE_IMAGING_H264_PRESET",
    "veryfast",
    ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow"),
)

# --- DICOM ----------------------------------------------------------------------------------
# Two called AE titles: everything sent to the archive AE is kept; what is sent to the patient
# AE is kept too and marked as picked for the patient. Checks E010-E013 validate them.
DICOM_ARCHIVE_AE = env_str("ECHOSHARE_DICOM_ARCHIVE_AE", "ECHOSHARE")
DICOM_PATIENT_AE = env_str("ECHOSHARE_DICOM_PATIENT_AE", "ECHOSHARE_PT")
# Calling AE titles allowed to associate, "AE" or "AE@address"; empty: any caller (F3).
DICOM_ALLOWED_CALLING_AES = env_list("ECHOSHARE_DICOM_ALLOWED_CALLING_AES", [])
DICOM_BIND_ADDRESS = env_str("ECHOSHARE_DICOM_BIND_ADDRESS", "0.0.0.0")  # noqa: S104 - a listener
DICOM_PORT = env_int("ECHOSHARE_DICOM_PORT", 11112, minimum=0, maximum=65535)
DICOM_IDLE_TIMEOUT = env_int("ECHOSHARE_DICOM_IDLE_TIMEOUT", 60, minimum=1)
DICOM_ACSE_TIMEOUT = env_int("ECHOSHARE_DICOM_ACSE_TIMEOUT", 30, minimum=1)
DICOM_DIMSE_TIMEOUT = env_int("ECHOSHARE_DICOM_DIMSE_TIMEOUT", 60, minimum=1)
DICOM_MAX_ASSOCIATIONS = env_int("ECHOSHARE_DICOM_MAX_ASSOCIATIONS", 16, minimum=1)
# 128 KiB PDUs cut the per-PDU overhead of large cines (BENCHMARKS.md); 0 means unlimited.
DICOM_MAX_PDU = env_int("ECHOSHARE_DICOM_MAX_PDU", 131072, minimum=0)
# Listener processes sharing the port (SO_REUSEPORT): one Python process is bound by its GIL.
DICOM_PROCESSES = env_int("ECHOSHARE_DICOM_PROCESSES", 1, minimum=1, maximum=64)

# --- Security -------------------------------------------------------------------------------
SESSION_COOKIE_SECURE = env_bool("ECHOSHARE_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
# Django's database sessions with a faster load (the check of every authorized photo).
SESSION_ENGINE = "echoshare.core.session_store"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "no-referrer"
SECURE_HSTS_SECONDS = env_int("ECHOSHARE_HSTS_SECONDS", 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
# The header only makes the site eligible; submitting to browsers' list is a manual step.
SECURE_HSTS_PRELOAD = env_bool("ECHOSHARE_HSTS_PRELOAD", True)
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

# --- Messages (echoshare.notify) ------------------------------------------------------------
# Key(s) under which the clinic tier keeps secrets it must be able to read again (message
# texts carrying a link, delete code or password). Comma-separated: the first encrypts, all
# decrypt (rotation). Any string; a Fernet key is derived from it.
CLINIC_SECRETS_KEY = env_str("ECHOSHARE_CLINIC_SECRETS_KEY", "clinic-secrets:" + SECRET_KEY)
EMAIL_BACKEND = {
    "console": "django.core.mail.backends.console.EmailBackend",
    "file": "django.core.mail.backends.filebased.EmailBackend",
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
}[env_choice("ECHOSHARE_EMAIL_BACKEND", "file", ("console", "file", "smtp"))]
# Empty: <data>/outbox/email, resolved when a message is sent.
EMAIL_FILE_PATH = env_str("ECHOSHARE_EMAIL_FILE_DIR", "")
EMAIL_HOST = env_str("ECHOSHARE_SMTP_HOST", "localhost")
EMAIL_PORT = env_int("ECHOSHARE_SMTP_PORT", 587, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("ECHOSHARE_SMTP_USER", "")
EMAIL_HOST_PASSWORD = env_str("ECHOSHARE_SMTP_PASSWORD", "")
EMAIL_USE_TLS = env_bool("ECHOSHARE_SMTP_STARTTLS", True)
EMAIL_USE_SSL = env_bool("ECHOSHARE_SMTP_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("ECHOSHARE_SMTP_STARTTLS and ECHOSHARE_SMTP_SSL exclude each other")
EMAIL_TIMEOUT = env_int("ECHOSHARE_SMTP_TIMEOUT_SECONDS", 30, minimum=1)
DEFAULT_FROM_EMAIL = env_str("ECHOSHARE_EMAIL_FROM", "echoshare@localhost")
SMS_BACKEND = env_choice(
    "ECHOSHARE_SMS_BACKEND", "file", ("console", "file", "twilio", "messagebird", "http")
)
SMS_FROM = env_str("ECHOSHARE_SMS_FROM", "echoshare")  # E.164 number or <= 11 letters/digits
SMS_FILE_DIR = env_str("ECHOSHARE_SMS_FILE_DIR", "")  # empty: <data>/outbox/sms
SMS_TIMEOUT_SECONDS: float = env_int("ECHOSHARE_SMS_TIMEOUT_SECONDS", 10, minimum=1)
TWILIO_BASE_URL = env_str("ECHOSHARE_TWILIO_BASE_URL", "https://api.twilio.com").rstrip("/")
TWILIO_ACCOUNT_SID = env_str("ECHOSHARE_TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = env_str("ECHOSHARE_TWILIO_AUTH_TOKEN", "")
TWILIO_MESSAGING_SERVICE_SID = env_str("ECHOSHARE_TWILIO_MESSAGING_SERVICE_SID", "")
MESSAGEBIRD_BASE_URL = env_str(
    "ECHOSHARE_MESSAGEBIRD_BASE_URL", "https://rest.messagebird.com"
).rstrip("/")
MESSAGEBIRD_ACCESS_KEY = env_str("ECHOSHARE_MESSAGEBIRD_ACCESS_KEY", "")
SMS_HTTP_URL = env_str("ECHOSHARE_SMS_HTTP_URL", "")
SMS_HTTP_TOKEN = env_str("ECHOSHARE_SMS_HTTP_TOKEN", "")
MESSAGE_MAX_ATTEMPTS = env_int("ECHOSHARE_MESSAGE_MAX_ATTEMPTS", 8, minimum=1)
MESSAGE_RETRY_BASE_SECONDS = env_int("ECHOSHARE_MESSAGE_RETRY_BASE_SECONDS", 60, minimum=1)
MESSAGE_RETRY_MAX_SECONDS = env_int("ECHOSHARE_MESSAGE_RETRY_MAX_SECONDS", 3600, minimum=1)
MESSAGE_SENDING_STALE_SECONDS = env_int("ECHOSHARE_MESSAGE_SENDING_STALE_SECONDS", 600, minimum=60)
MESSAGE_TEXT_RETENTION_DAYS = env_int("ECHOSHARE_MESSAGE_TEXT_RETENTION_DAYS", 14, minimum=0)
MESSAGE_TEMPLATES_DIR = env_str("ECHOSHARE_MESSAGE_TEMPLATES_DIR", "")
BOOKING_REMINDER_HOURS = env_int("ECHOSHARE_BOOKING_REMINDER_HOURS", 24, minimum=0)  # 0: off
EXPIRY_REMINDER_DAYS = env_int("ECHOSHARE_EXPIRY_REMINDER_DAYS", 7, minimum=0)  # 0: off

# --- Publishing (echoshare.clinic: passwords, publishing, share status) ----------------------
# The clinic's name and phone number as patients see them in messages and on password slips.
CLINIC_NAME = env_str("ECHOSHARE_CLINIC_NAME", "echoshare")
CLINIC_PHONE = env_str("ECHOSHARE_CLINIC_PHONE", "")
# Publish without a staff click once no image has arrived on the patient AE title for the
# quiet time (never while an item needs review, the exam is on hold or consent is missing).
AUTO_PUBLISH = env_bool("ECHOSHARE_AUTO_PUBLISH", False)
AUTO_PUBLISH_QUIET_MINUTES = env_int("ECHOSHARE_AUTO_PUBLISH_QUIET_MINUTES", 10, minimum=1)
# Seconds the clinic waits for the portal's API (uploads of clips included).
PORTAL_API_TIMEOUT_SECONDS = env_int("ECHOSHARE_PORTAL_API_TIMEOUT_SECONDS", 120, minimum=1)
# How often the clinic pulls share events (opened, downloaded, deleted ...) from the portal.
SHARE_STATUS_PULL_SECONDS = env_int("ECHOSHARE_SHARE_STATUS_PULL_SECONDS", 60, minimum=5)
# Days after the appointment its readable (sealed) password is kept when no share is open;
# after that staff can still resend a password: a new one is made.
PASSWORD_KEEP_DAYS = env_int("ECHOSHARE_PASSWORD_KEEP_DAYS", 30, minimum=1)

# --- Clinic staff (echoshare.clinic, echoshare.audit) ----------------------------------------
LOGIN_URL = "/staff/login/"
LOGIN_REDIRECT_URL = "/staff/"
OTP_LOGIN_URL = LOGIN_URL
OTP_TOTP_ISSUER = env_str("ECHOSHARE_STAFF_TOTP_ISSUER", "echoshare")
# The per-account lockout below counts wrong passwords and wrong codes together; django-otp's
# own per-device delay on top would refuse a right code typed within seconds of a wrong one.
OTP_TOTP_THROTTLE_FACTOR = 0
OTP_ADMIN_HIDE_SENSITIVE_DATA = True  # the admin never shows a TOTP secret
# A staff session unused for this long ends (only under /staff/; NEN 7510).
STAFF_IDLE_MINUTES = env_int("ECHOSHARE_STAFF_IDLE_MINUTES", 30, minimum=1, maximum=24 * 60)
# After this many failed logins in a row an account name is locked; the lock starts at
# STAFF_LOCKOUT_SECONDS and doubles with every further failure, up to STAFF_LOCKOUT_MAX_SECONDS.
STAFF_LOCKOUT_AFTER = env_int("ECHOSHARE_STAFF_LOCKOUT_AFTER", 5, minimum=1)
STAFF_LOCKOUT_SECONDS = env_int("ECHOSHARE_STAFF_LOCKOUT_SECONDS", 60, minimum=1)
STAFF_LOCKOUT_MAX_SECONDS = env_int("ECHOSHARE_STAFF_LOCKOUT_MAX_SECONDS", 86400, minimum=1)

# --- Staff pages and system monitoring (echoshare.clinic.staff, clinic/monitoring.py) ----------
# Alerts go to these addresses; empty: the e-mail addresses of the active administrators.
MONITOR_ALERT_EMAILS = env_list("ECHOSHARE_MONITOR_ALERT_EMAILS", [])
# Free space below this (MB) in the archive or data folder is an incident.
MONITOR_DISK_FREE_MB = env_int("ECHOSHARE_MONITOR_DISK_FREE_MB", 5120, minimum=1)
# Jobs waiting longer than this many are an incident (so is any waiting job with no live worker).
MONITOR_BACKLOG_MAX = env_int("ECHOSHARE_MONITOR_BACKLOG_MAX", 200, minimum=1)
# Where the status check reaches the DICOM listener (C-ECHO); empty: 127.0.0.1 when it binds
# to every address, else its bind address.
MONITOR_DICOM_HOST = env_str("ECHOSHARE_MONITOR_DICOM_HOST", "")
MONITOR_TIMEOUT_SECONDS = env_int("ECHOSHARE_MONITOR_TIMEOUT_SECONDS", 3, minimum=1, maximum=60)
# How often the scheduler evaluates the conditions (the periodic job "staffpages.monitor").
MONITOR_EVERY_SECONDS = env_int("ECHOSHARE_MONITOR_EVERY_SECONDS", 60, minimum=10)

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
