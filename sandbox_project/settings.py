"""Settings of the sandbox project.

The database is SQLite unless ``ORMAI_DB=postgres`` (then PostgreSQL at
127.0.0.1:5432, user ``postgres``, database ``ORMAI_PG_NAME`` or ``ormai``).
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "sandbox-only-not-a-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "simple_history",
    "rest_framework",
    "ormai_django",
    "sandbox_project.shop",
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
]

ROOT_URLCONF = "sandbox_project.urls"

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

WSGI_APPLICATION = "sandbox_project.wsgi.application"

if os.environ.get("ORMAI_DB", "sqlite") == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("ORMAI_PG_NAME", "ormai"),
            "USER": os.environ.get("ORMAI_PG_USER", "postgres"),
            "HOST": os.environ.get("ORMAI_PG_HOST", "127.0.0.1"),
            "PORT": os.environ.get("ORMAI_PG_PORT", "5432"),
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("ORMAI_SQLITE_PATH", BASE_DIR / "db.sqlite3"),
        }
    }

# ormai_bench's django-pghistory cases (PostgreSQL only): a bench-only app whose models
# pghistory tracks, installed only when asked, so it never joins the sandbox's own schema.
if os.environ.get("ORMAI_BENCH_PGHISTORY") == "1" and os.environ.get("ORMAI_DB") == "postgres":
    INSTALLED_APPS += ["pgtrigger", "pghistory", "sandbox_project.benchapp"]

# The server of manage.py ormai_loadtest keeps its database connections between requests,
# as a deployed site does (the tool endpoint and its bare-ORM baseline alike).
if os.environ.get("ORMAI_LOADTEST") == "1":
    DATABASES["default"]["CONN_MAX_AGE"] = 60

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
# Emails (the receipts shop.send_receipt_email sends) stay in memory: nothing leaves the sandbox.
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
DEFAULT_FROM_EMAIL = "shop@sandbox.example"

ORMAI = {
    "POLICY": "sandbox_project.shop.policy.build_policy",
}

# The HTTP API (ormai_django.api, mounted at /ormai/) documents itself with drf-spectacular.
REST_FRAMEWORK = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}

# Celery (sandbox_project/celery.py): Redis as broker and result backend.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", CELERY_BROKER_URL)
CELERY_TIMEZONE = TIME_ZONE
# Seconds between expiry runs; tests shorten it (ORMAI_EXPIRY_INTERVAL=1).
_expiry_interval = float(os.environ.get("ORMAI_EXPIRY_INTERVAL", "60"))
CELERY_BEAT_SCHEDULE = {
    "ormai-expire-approvals": {
        "task": "ormai_django.tasks.expire_approvals",
        "schedule": _expiry_interval,
    },
    "ormai-remind-approvals": {
        "task": "ormai_django.tasks.remind_approvals",
        "schedule": _expiry_interval,
    },
    "ormai-purge-idempotency": {
        "task": "ormai_django.tasks.purge_idempotency_records",
        "schedule": 3600.0,
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"ormai_django": {"handlers": ["console"], "level": "WARNING"}},
}
