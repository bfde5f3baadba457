"""Settings for the control plane, read once from the environment."""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from waf_app import env

BASE_DIR = Path(__file__).resolve().parent.parent
STATE_DIR = Path(env.path("WAF_STATE_DIR", BASE_DIR / "state"))

# Settings that scripts/run.sh chose for this checkout (ports, issuer, ...),
# so `manage.py shell` and every other command agree with the running
# product. Variables set in the environment win; WAF_ENV_FILE= turns it off.
ENV_FILE = env.text("WAF_ENV_FILE", str(STATE_DIR / "local.env"))
if ENV_FILE:
    env.load_file(ENV_FILE)

DEBUG = env.boolean("DEBUG", False)
SECRET_KEY = env.text("SECRET_KEY") or env.secret_from_file(STATE_DIR / "secret_key")

ALLOWED_HOSTS = [
    host.strip()
    for host in env.text("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")
    if host.strip()
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "axes",
    "site_management",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into a 429 page.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # Counts failed logins and refuses more after AXES_FAILURE_LIMIT.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "waf_app.urls"
WSGI_APPLICATION = "waf_app.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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


def _database():
    url = env.text("DATABASE_URL", f"sqlite:///{STATE_DIR / 'db.sqlite3'}")
    try:
        config = dj_database_url.parse(url, conn_max_age=0)
    except ValueError as error:
        raise ImproperlyConfigured(f"DATABASE_URL is not usable: {error}") from None
    if config["ENGINE"].endswith("sqlite3"):
        # The sync runs in a background thread beside the web or shell thread;
        # WAL and a generous busy timeout let both use one SQLite file.
        config["OPTIONS"] = {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
        config["TEST"] = {"NAME": str(STATE_DIR / "test-db.sqlite3")}
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = STATE_DIR / "static"

SESSION_COOKIE_SECURE = not DEBUG and env.boolean("SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_TRUSTED_ORIGINS = env.origin_list("CSRF_TRUSTED_ORIGINS")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Admin login: after this many failures for one user name from one address,
# further attempts are refused for the cool-off time.
AXES_FAILURE_LIMIT = env.integer("LOGIN_FAILURE_LIMIT", 5, 1, 1000)
AXES_COOLOFF_TIME = env.integer("LOGIN_COOLOFF_MINUTES", 15, 1, 10080) / 60
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "site_management.api.auth.GuardedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "site_management.api.permissions.StaffWritesOperatorsRead"
    ],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "site_management.api.pagination.Pages",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "site_management.api.errors.json_errors",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.UserRateThrottle",
        "rest_framework.throttling.ScopedRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.rate("API_THROTTLE_ANON", "30/minute"),
        "user": env.rate("API_THROTTLE_USER", "600/minute"),
        "sync": env.rate("API_THROTTLE_SYNC", "30/minute"),
    },
}
# Members of this group may read the API and the sync state; staff may write.
API_READ_GROUP = env.text("API_READ_GROUP", "operators")

SPECTACULAR_SETTINGS = {
    "TITLE": "Caddy control plane API",
    "DESCRIPTION": "Sites, their upstream addresses and certificates, and the "
    "sync that keeps Caddy serving them.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its pages are for the same accounts as the API.
    "SERVE_PERMISSIONS": ["site_management.api.permissions.StaffWritesOperatorsRead"],
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "site_management.api.schema.add_error_responses",
    ],
}

# Caddy: where its admin API is, where the product keeps Caddy's files and
# logs, and what the rendered config listens on.
CADDY_API_URL = env.admin_url("CADDY_API_URL", "http://localhost:2019")
CADDY_BASE_PATH = env.path("CADDY_BASE_PATH", STATE_DIR / "caddy")
CADDY_LOG_DIR = env.path("CADDY_LOG_DIR", STATE_DIR / "logs")
CADDY_HTTP_PORT = env.integer("CADDY_HTTP_PORT", 80, 1, 65535)
CADDY_HTTPS_PORT = env.integer("CADDY_HTTPS_PORT", 443, 1, 65535)
CADDY_BIND = env.ip_literal("CADDY_BIND")
CADDY_TLS_ISSUER = env.choice("CADDY_TLS_ISSUER", "acme", {"acme", "internal"})
CADDY_TIMEOUT_SECONDS = env.integer("CADDY_TIMEOUT_SECONDS", 10, 1, 600)
CADDY_SYNC_DEBOUNCE_MS = env.integer("CADDY_SYNC_DEBOUNCE_MS", 200, 0, 10000)
CADDY_RECONCILE_SECONDS = env.integer("CADDY_RECONCILE_SECONDS", 30, 1, 86400)
CADDY_RETRY_MAX_SECONDS = env.integer("CADDY_RETRY_MAX_SECONDS", 60, 1, 3600)
CADDY_HISTORY_DAYS = env.integer("CADDY_HISTORY_DAYS", 30, 1, 3650)
CADDY_CERT_WARN_DAYS = env.integer("CADDY_CERT_WARN_DAYS", 14, 0, 3650)
CADDY_NOTIFY_EMAILS = env.email_list("CADDY_NOTIFY_EMAILS")
CADDY_NOTIFY_WEBHOOK_URL = env.web_url("CADDY_NOTIFY_WEBHOOK_URL")
if CADDY_HTTP_PORT == CADDY_HTTPS_PORT:
    raise ImproperlyConfigured("CADDY_HTTP_PORT and CADDY_HTTPS_PORT must differ")

# Mail for failure notifications; Django's usual names.
EMAIL_HOST = env.text("EMAIL_HOST", "localhost")
EMAIL_PORT = env.integer("EMAIL_PORT", 25, 1, 65535)
EMAIL_HOST_USER = env.text("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env.text("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env.boolean("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env.text("DEFAULT_FROM_EMAIL", "caddy-control@localhost")

# With a broker, Celery workers and beat run the sync; without one, the
# process that saved runs it in a background thread.
CELERY_BROKER_URL = env.redis_url("CELERY_BROKER_URL")
CELERY_TASK_DEFAULT_QUEUE = env.text("CELERY_QUEUE", "caddy-control")
CELERY_TASK_IGNORE_RESULT = True
# Django's logging config already prints our loggers; Celery's root handler
# would print every line twice.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_timeout": 5, "socket_connect_timeout": 5}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "loggers": {
        "site_management": {
            "handlers": ["console"],
            "level": env.choice(
                "LOG_LEVEL", "info", {"debug", "info", "warning", "error"}
            ).upper(),
        },
    },
}
