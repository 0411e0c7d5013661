"""Settings of the test application the end-to-end tests run under gunicorn.

No database, no sessions, no CSRF middleware: every view answers from the
request alone, so two copies ("blue" and "green") differ only in RELEASE.
"""
import os

RELEASE = os.environ.get("RELEASE", "unknown")

SECRET_KEY = "canary-proxy-test-app-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = []
MIDDLEWARE = [
    "testapp.middleware.ReleaseHeaderMiddleware",
    "testapp.middleware.FaultInjectionMiddleware",
]
ROOT_URLCONF = "testapp.urls"
WSGI_APPLICATION = "testapp.wsgi.application"
DATABASES = {}

USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "/static/"

# /echo must accept large bodies whole.
DATA_UPLOAD_MAX_MEMORY_SIZE = None

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
