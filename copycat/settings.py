"""Copycat settings: one module, every deployment difference comes from the environment."""

from __future__ import annotations

from pathlib import Path

import dj_database_url
import orjson
from celery.schedules import crontab

from copycat.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
# A fixed development key keeps local runs and tests zero-config; production sets SECRET_KEY
# (or SECRET_KEY_FILE) and `check --deploy` flags the default.
SECRET_KEY = env_str("SECRET_KEY", "django-insecure-copycat-local-development-only")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_filters",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "accounts",
    "ingest",
    "campaigns",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "copycat.urls"
WSGI_APPLICATION = "copycat.wsgi.application"

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
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/copycat"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
    )
}
# PostgreSQL's JIT compiles every query whose *estimated* cost is high; for the set-based
# statements of ingest and the pages' aggregates the compile time outweighs the gain
# (measured: the demo ingest 17% faster without it). DATABASE_OPTIONS overrides.
DATABASES["default"].setdefault("OPTIONS", {})["options"] = env_str("DATABASE_OPTIONS", "-c jit=off")
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL: Copycat relies on COPY and partitioning.")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Ingest -------------------------------------------------------------------------------
INGEST_DIR = Path(env_str("INGEST_DIR", str(BASE_DIR / "var" / "ingest")))
# A file in the drop folder is only picked up once it has not changed for this long, so a
# file still being copied in is never read half-way.
INGEST_SETTLE_SECONDS = env_int("INGEST_SETTLE_SECONDS", 10)
# A run whose heartbeat is older than this is taken to be dead (worker killed, machine lost).
INGEST_STALE_SECONDS = env_int("INGEST_STALE_SECONDS", 120)
# A run still queued after this long is sent to the broker again (its message may be lost).
INGEST_REQUEUE_SECONDS = env_int("INGEST_REQUEUE_SECONDS", 600)
INGEST_BATCH_SIZE = env_int("INGEST_BATCH_SIZE", 10_000)
# Rows merged at a time inside a file's transaction: the reader parses the next chunk while
# this one merges. Larger chunks amortise the merge's fixed costs; memory stays flat.
INGEST_CHUNK_ROWS = env_int("INGEST_CHUNK_ROWS", 250_000)

# --- Detection ----------------------------------------------------------------------------
# Each finished ingest asks for a detection run; the run waits this long so that a burst of
# files leads to one run.
DETECT_AFTER_INGEST = env_bool("DETECT_AFTER_INGEST", True)
DETECT_DEBOUNCE_SECONDS = env_int("DETECT_DEBOUNCE_SECONDS", 120)

# --- Evidence packets ---------------------------------------------------------------------
EVIDENCE_DIR = Path(env_str("EVIDENCE_DIR", str(BASE_DIR / "var" / "evidence")))
# Ed25519 private key that signs packet manifests: PEM, or base64 of the raw 32 bytes; also
# EVIDENCE_SIGNING_KEY_FILE. Empty: a key is generated for local use at
# EVIDENCE_DIR/signing-key.pem (mode 0600) on first use.
EVIDENCE_SIGNING_KEY = env_str("EVIDENCE_SIGNING_KEY", "")

# --- Celery -------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
# Job state lives in PostgreSQL (IngestRun and friends), so results are never stored.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "ingest.tasks.*": {"queue": "ingest"},
    "campaigns.tasks.detect*": {"queue": "detect"},
    "campaigns.tasks.export*": {"queue": "export"},
}
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Unacknowledged tasks from a killed worker come back after this long; the task claims
    # its run by heartbeat, so a redelivery never runs the same file twice at once.
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
}
CELERY_BEAT_SCHEDULE = {
    "scan-ingest-dir": {
        "task": "ingest.tasks.scan_ingest_dir",
        "schedule": env_int("INGEST_SCAN_SECONDS", 30),
        "options": {"expires": 25},
    },
    "reap-stale-ingest-runs": {
        "task": "ingest.tasks.reap_stale_runs",
        "schedule": crontab(minute="*"),
        "options": {"expires": 50},
    },
    # Detection runs and packets whose worker died (or whose message Redis lost) go out again.
    "reap-stale-detection-runs": {
        "task": "campaigns.tasks.detect_reap_stale_runs",
        "schedule": crontab(minute="*"),
        "options": {"expires": 50},
    },
    "reap-stale-packets": {
        "task": "campaigns.tasks.export_reap_stale_packets",
        "schedule": crontab(minute="*"),
        "options": {"expires": 50},
    },
    # Detection also runs after each ingest (debounced); this catches anything that slipped by.
    "detect-hourly": {
        "task": "campaigns.tasks.detect_scheduled",
        "schedule": crontab(minute=17),
        "options": {"expires": 3000},
    },
}

# --- REST API -----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "copycat.api.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["copycat.api.HasRole"],
    "DEFAULT_FILTER_BACKENDS": ["copycat.api.StrictFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "copycat.api.CursorPagination",
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "copycat.api.ContentNegotiation",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "copycat.api.exception_handler",
    # orjson: rendering a timeline's thousands of points with the json module took a third of
    # the request. OPT_UTC_Z keeps UTC times ending in "Z" and OPT_NON_STR_KEYS writes the
    # integer keys of list-field errors ({"link": {"0": ...}}), as DRF's own encoder does.
    "DEFAULT_RENDERER_CLASSES": ["drf_orjson_renderer.renderers.ORJSONRenderer",
                                 "rest_framework.renderers.BrowsableAPIRenderer"],
    "ORJSON_RENDERER_OPTIONS": (orjson.OPT_UTC_Z, orjson.OPT_NON_STR_KEYS),
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser",
                               "rest_framework.parsers.FormParser",
                               "rest_framework.parsers.MultiPartParser"],
}
# Uploads larger than this are refused before they are read (400 naming the limit).
INGEST_UPLOAD_MAX_BYTES = env_int("INGEST_UPLOAD_MAX_BYTES", 2 * 1024**3)
SPECTACULAR_SETTINGS = {
    "TITLE": "Copycat API",
    "DESCRIPTION": "Find, prove and stop distillation campaigns. Authenticate with `Authorization: Token KEY`. "
                   "Errors are JSON: `{\"error\": \"what to fix\", \"detail\": ...}`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Like every endpoint, the schema and docs need a token or a signed-in user with a role.
    "SERVE_PERMISSIONS": ["copycat.api.HasRole"],
    "ENUM_NAME_OVERRIDES": {
        "CampaignStatusEnum": "campaigns.models.Campaign.Status",
        "JobStatusEnum": "campaigns.models.DetectionRun.Status",
        "AccountStatusEnum": "accounts.models.Account.Status",
        "MembershipSourceEnum": "campaigns.models.Membership.Source",
        "IngestSourceEnum": "ingest.models.IngestRun.Source",
    },
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# --- Cache (sign-in throttling) ------------------------------------------------------------
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env_str("CACHE_URL", CELERY_BROKER_URL),
        # One Redis may serve several databases' deployments (and test runs): keep them apart.
        "KEY_PREFIX": f"copycat:{DATABASES['default']['NAME']}",
    }
}
# Campaign reads (shared values, candidates, timelines) are cached under keys that move with the
# campaign's figures, so they can live this long; a task fills them after every change.
CAMPAIGN_CACHE_SECONDS = env_int("CAMPAIGN_CACHE_SECONDS", 6 * 3600)
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 15 * 60)

# --- Security -----------------------------------------------------------------------------
# Behind TLS in production set SECURE_COOKIES=true (and SECURE_HSTS_SECONDS, SECURE_SSL_REDIRECT);
# the local demo serves plain http on loopback, where secure-only cookies could not sign in.
SECURE_COOKIES = env_bool("SECURE_COOKIES", False)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# No inline scripts anywhere: every script is a file under static/. Plotly injects its own
# <style> element, so styles allow inline; nothing is ever loaded from another origin.
SECURE_CSP = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'", "'unsafe-inline'"],
    "img-src": ["'self'", "data:", "blob:"],
    "font-src": ["'self'", "data:"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
