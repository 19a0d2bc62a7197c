"""Settings of the screening portal, read from the environment (django-environ).

Two modes, same code:

- embedded (no ``DATABASE_URL``, no ``CELERY_BROKER_URL``): SQLite under ``var/``, Celery tasks
  run in-process (``CELERY_TASK_ALWAYS_EAGER``). This is what ``make run`` uses; debug stays off
  unless ``DJANGO_DEBUG=true`` (static files come from whitenoise either way).
- deployed: PostgreSQL from ``DATABASE_URL``, Redis from ``CELERY_BROKER_URL``, a separate
  worker (``make worker`` / the ``worker`` service of docker-compose.yml), debug off.

Every variable is listed with its default in the README (section "Configuration"). Nothing here
touches the file system: folders the embedded mode needs (``var/``) are created when the app
starts (``screening.apps``), and tests change settings with pytest-django's ``settings`` fixture.
"""

import warnings
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():  # optional local overrides; never committed
    environ.Env.read_env(BASE_DIR / ".env")

DATABASE_URL = env.str("DATABASE_URL", default="")
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
EMBEDDED = not DATABASE_URL

# --- core -------------------------------------------------------------------------------------
# DJANGO_ENV=production: the deployed mode (docker-compose). It refuses to start without a real
# secret key and explicit ALLOWED_HOSTS, and its defaults pass `check --deploy` (SECURITY.md).
DJANGO_ENV = env.str("DJANGO_ENV", default="development").strip().lower()
PRODUCTION = DJANGO_ENV == "production"
# Off unless asked for: `make run` may be reachable from a network, and the debug pages show
# settings, URL patterns and request data.
DEBUG = env.bool("DJANGO_DEBUG", default=False)
DEV_SECRET_KEY = "dev-only-insecure-secret-key-change-me"  # noqa: S105 (checked by screening.checks)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=DEV_SECRET_KEY)
ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]"]
)
if PRODUCTION:
    from django.core.exceptions import ImproperlyConfigured

    if SECRET_KEY == DEV_SECRET_KEY or len(SECRET_KEY) < 50:
        raise ImproperlyConfigured(
            "DJANGO_ENV=production needs DJANGO_SECRET_KEY: at least 50 random characters, e.g. "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'."
        )
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured(
            "DJANGO_ENV=production needs DJANGO_ALLOWED_HOSTS (the portal's host names)."
        )
    if DEBUG:
        raise ImproperlyConfigured("DJANGO_DEBUG=true is refused with DJANGO_ENV=production.")
# How many reverse proxies of our own stand in front of the web processes. Their hops at the
# right end of X-Forwarded-For are believed; everything else in that header is the client's
# say-so (portal.security.client). 0: the socket's address is the client.
TRUSTED_PROXY_COUNT = env.int("DJANGO_TRUSTED_PROXY_COUNT", default=0)
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "axes",
    "screening",
    "dashboard",  # national dashboard and model watch (dashboard/)
    "portal.security",
    "portal.audit",
    "notifications",
]

MIDDLEWARE = [
    "portal.security.ratelimit.RetryAfterMiddleware",
    "portal.logs.RequestIdMiddleware",  # first: every log line of the request carries its id
    "portal.metrics.UploadMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "screening.middleware.RequestSizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # After sessions, before common: the language comes from the switcher's cookie, else from
    # Accept-Language (never from the URL: patient links stay the same in every language).
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "portal.security.csp.PortalCSPMiddleware",
    # After authentication: records who read which patient's data (portal/audit).
    "portal.audit.middleware.AuditMiddleware",
    "screening.middleware.NulCharacterMiddleware",  # after the audit: the refusal is recorded
    "portal.resilience.ServiceUnavailableMiddleware",  # last: sees the view's exceptions first
    # Refuses a locked-out login (django-axes); must stay the last.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

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
    },
]

# --- database ---------------------------------------------------------------------------------
if EMBEDDED:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": BASE_DIR / "var" / "portal.sqlite3",
        }
    }
else:
    DATABASES = {"default": env.db_url("DATABASE_URL")}
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The cache holds the rate-limit counters, so it must be shared by every web process: Redis.
# Without CACHE_URL it follows CELERY_BROKER_URL (same Redis database, keys under KEY_PREFIX;
# portal.security.cache.PrefixedRedisCache.clear() deletes only those, never the queue), else
# the per-process locmem cache of `make run`.
CACHE_URL = env.str("CACHE_URL", default="") or (
    CELERY_BROKER_URL
    if CELERY_BROKER_URL.startswith(("redis://", "rediss://"))
    else "locmemcache://"
)
CACHES = {"default": env.cache_url_config(CACHE_URL)}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    CACHES["default"]["BACKEND"] = "portal.security.cache.PrefixedRedisCache"
CACHES["default"].setdefault("KEY_PREFIX", env.str("CACHE_KEY_PREFIX", default="portal"))

AUTHENTICATION_BACKENDS = [
    # Login lockout (django-axes): refuses a locked-out username or address before the password
    # is even checked.
    "portal.security.lockout.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "screening:triage"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
# Every page, form and API message in each of these; a third language is one `makemessages`
# away (README, "Languages").
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600  # the switcher's choice is remembered for a year
LANGUAGE_COOKIE_SAMESITE = "Lax"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- static files and uploads -----------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
# WhiteNoise warns about a missing STATIC_ROOT before the first collectstatic; the finders
# serve static/ meanwhile, so the warning says nothing useful (and no folder is made here).
warnings.filterwarnings("ignore", message="No directory at: ", category=UserWarning)
STATICFILES_DIRS = [BASE_DIR / "static"]
# Manifest (hashed names) needs `collectstatic` first: the Dockerfile does that and sets it.
STATIC_MANIFEST = env.bool("STATIC_MANIFEST", default=False)
WHITENOISE_USE_FINDERS = not STATIC_MANIFEST

# Uploaded radiographs: outside any URL-served path. Only the access-checked clinician view
# streams them; there is deliberately no MEDIA_URL route.
MEDIA_ROOT = env.str("MEDIA_ROOT", default=str(BASE_DIR / "var" / "uploads"))
STORAGES = {
    "default": {"BACKEND": "screening.storage.PrivateFileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if STATIC_MANIFEST
            else "whitenoise.storage.CompressedStaticFilesStorage"
        )
    },
}
# Several hosts: STORAGE_BACKEND=s3 puts the images in an S3-compatible bucket (portal/storage.py;
# DEPLOYMENT.md). The file system under MEDIA_ROOT stays the default.
STORAGE_BACKEND = env.str("STORAGE_BACKEND", default="filesystem")
if STORAGE_BACKEND == "s3":
    STORAGES["default"] = {
        "BACKEND": "portal.storage.PrivateS3Storage",
        "OPTIONS": {
            "bucket_name": env.str("S3_BUCKET"),
            "endpoint_url": env.str("S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("S3_REGION", default="") or None,
            "access_key": env.str("S3_ACCESS_KEY_ID", default="") or None,
            "secret_key": env.str("S3_SECRET_ACCESS_KEY", default="") or None,
            "location": env.str("S3_PREFIX", default=""),
        },
    }
elif STORAGE_BACKEND != "filesystem":
    raise ValueError(f"STORAGE_BACKEND must be 'filesystem' or 's3', not {STORAGE_BACKEND!r}")
FILE_UPLOAD_PERMISSIONS = 0o640
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o750

MAX_UPLOAD_MB = env.int("MAX_UPLOAD_MB", default=20)
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 1024 * 1024
# Uploads above this size are spooled to a temporary file instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
# The first handler stops reading a file as soon as it passes MAX_UPLOAD_BYTES.
FILE_UPLOAD_HANDLERS = [
    "screening.uploads.UploadLimitHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
# Non-file form fields; the image itself is limited by MAX_UPLOAD_MB (checked on Content-Length
# before the body is read, then on the file's size).
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# --- screening rules --------------------------------------------------------------------------
NATIONAL_ID_REGEX = env.str("NATIONAL_ID_REGEX", default=r"^[A-Za-z0-9]{6,20}$")
INFERENCE_DEVICE = env.str("INFERENCE_DEVICE", default="auto")
INFERENCE_WEIGHTS = env.str("INFERENCE_WEIGHTS", default="") or None
INFERENCE_PRELOAD = env.bool("INFERENCE_PRELOAD", default=True)
# The worker's forward pass (inference/engines.py, measured in BENCHMARKS.md): auto = ONNX Runtime,
# else torch with BatchNorm folded; eager = torch as trained. Stored in Prediction.model_version.
INFERENCE_ENGINE = env.str("INFERENCE_ENGINE", default="auto")
# Threads per worker process, for torch and the engine. Keep threads x WORKER_CONCURRENCY at most
# the cores: more makes the thread pools' barriers spin against each other (BENCHMARKS.md).
INFERENCE_THREADS = env.int("INFERENCE_THREADS", default=1)
# Where the exported ONNX graph is kept between worker processes (named by the weights' sha256).
INFERENCE_ENGINE_CACHE = env.str(
    "INFERENCE_ENGINE_CACHE", default=str(BASE_DIR / "var" / "cache" / "engines")
)
# How many times a screening may be claimed by a worker before it is marked failed.
SCREENING_MAX_ATTEMPTS = env.int("SCREENING_MAX_ATTEMPTS", default=3)
# Grad-CAM heatmaps computed by the worker after each prediction (INFERENCE_HEATMAPS=false: off).
INFERENCE_HEATMAPS = env.bool("INFERENCE_HEATMAPS", default=True)
# The worker's lung check (lung-field U-Net): a film without plausible lung fields is flagged.
INFERENCE_LUNG_CHECK = env.bool("INFERENCE_LUNG_CHECK", default=True)
# Batching (screening.tasks): a task takes up to INFERENCE_BATCH_SIZE queued screenings, waiting
# at most INFERENCE_BATCH_WINDOW_MS for more, and runs them as one forward pass. 1: one at a
# time (the CPU default: batching does not pay there, BENCHMARKS.md section 3).
INFERENCE_BATCH_SIZE = env.int("INFERENCE_BATCH_SIZE", default=1)
INFERENCE_BATCH_WINDOW_MS = env.float("INFERENCE_BATCH_WINDOW_MS", default=2.0)
# Longest side of a stored heatmap PNG (the page stretches it over the radiograph).
HEATMAP_MAX_SIDE = env.int("HEATMAP_MAX_SIDE", default=1024)
TRIAGE_PAGE_SIZE = env.int("TRIAGE_PAGE_SIZE", default=25)
STATUS_POLL_SECONDS = env.int("STATUS_POLL_SECONDS", default=3)
TRIAGE_POLL_SECONDS = env.int("TRIAGE_POLL_SECONDS", default=10)

# --- patient notifications (notifications app) -------------------------------------------------
# Django's e-mail backends; SMS through notifications.sms (console, file, locmem or a gateway's).
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="screening@localhost")
SMS_BACKEND = env.str("SMS_BACKEND", default="notifications.sms.ConsoleSmsBackend")
SMS_FILE_PATH = env.str("SMS_FILE_PATH", default=str(BASE_DIR / "var" / "sms"))
# Absolute links in messages sent outside a request (the decision message).
PORTAL_BASE_URL = env.str("PORTAL_BASE_URL", default="http://127.0.0.1:8000")
# Local phone numbers are read in this country's national format (ISO 3166 code).
PHONE_DEFAULT_REGION = env.str("PHONE_DEFAULT_REGION", default="KE")
# A chosen X-ray is kept this long (seconds) across a refused submit (screening.kept_uploads).
KEPT_UPLOAD_MAX_AGE = env.int("KEPT_UPLOAD_MAX_AGE", default=1800)
KEPT_UPLOAD_ROOT = env.str("KEPT_UPLOAD_ROOT", default="")  # "": <MEDIA_ROOT>-kept

# --- Celery -----------------------------------------------------------------------------------
CELERY_BROKER_URL = CELERY_BROKER_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = env.bool(
    "CELERY_TASK_ALWAYS_EAGER", default=CELERY_BROKER_URL == "memory://"
)
CELERY_TASK_EAGER_PROPAGATES = env.bool("CELERY_TASK_EAGER_PROPAGATES", default=False)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ROUTES = {"screening.process_screening": {"queue": "inference"}}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=120)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=180)
CELERY_WORKER_MAX_TASKS_PER_CHILD = env.int("CELERY_WORKER_MAX_TASKS_PER_CHILD", default=500)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis redelivers an unacknowledged (acks_late) message after this many seconds.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
}
# Worker processes load the model when they start (INFERENCE_PRELOAD): give them time.
CELERY_WORKER_PROC_ALIVE_TIMEOUT = env.float("CELERY_WORKER_PROC_ALIVE_TIMEOUT", default=120.0)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_SEND_SENT_EVENT = False

# --- operations: sweeper, heartbeat, metrics (portal/celery.py, portal/health.py) -------------
# How long a screening may reasonably wait in the queue at peak (DEPLOYMENT.md, scaling). The
# broker's visibility timeout must exceed the hard time limit plus this wait, or Redis redelivers
# tasks that are merely waiting (system check ops.E001 in portal/checks.py).
EXPECTED_QUEUE_WAIT_SECONDS = env.int("EXPECTED_QUEUE_WAIT_SECONDS", default=1800)
MAINTENANCE_QUEUE = "maintenance"
CELERY_TASK_ROUTES["screening.sweep_stale"] = {"queue": MAINTENANCE_QUEUE}
SWEEP_INTERVAL_SECONDS = env.int("SWEEP_INTERVAL_SECONDS", default=300)
SWEEP_PENDING_AFTER_SECONDS = env.int(
    "SWEEP_PENDING_AFTER_SECONDS", default=EXPECTED_QUEUE_WAIT_SECONDS
)
SWEEP_PROCESSING_AFTER_SECONDS = env.int(
    "SWEEP_PROCESSING_AFTER_SECONDS", default=CELERY_TASK_TIME_LIMIT + 60
)
# Worker processes write a heartbeat (model loaded?) here; /readyz reads it.
HEALTH_REDIS_URL = env.str(
    "HEALTH_REDIS_URL",
    default=CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else "",
)
WORKER_HEARTBEAT_SECONDS = env.int("WORKER_HEARTBEAT_SECONDS", default=15)
WORKER_METRICS_PORT = env.int("WORKER_METRICS_PORT", default=0)  # 0: the worker serves none
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")  # set: /metrics needs "Bearer <token>"
STORAGE_MIN_FREE_MB = env.int("STORAGE_MIN_FREE_MB", default=512)
# Per-region band thresholds are proposed only from at least this many reviewed screenings, of
# which this many "COVID-19 suspected"; the medium band keeps this share of the suspected cases.
DASHBOARD_THRESHOLD_MIN_REVIEWED = env.int("DASHBOARD_THRESHOLD_MIN_REVIEWED", default=200)
DASHBOARD_THRESHOLD_MIN_POSITIVE = env.int("DASHBOARD_THRESHOLD_MIN_POSITIVE", default=30)
DASHBOARD_THRESHOLD_MEDIUM_SENSITIVITY = env.float(
    "DASHBOARD_THRESHOLD_MEDIUM_SENSITIVITY", default=0.99
)
# The dashboard reads a rollup (dashboard/rollups.py) refreshed by beat this often; each refresh
# re-reads changes made up to LAG seconds before the previous one (transactions still open then).
CELERY_TASK_ROUTES["dashboard.rollup_refresh"] = {"queue": MAINTENANCE_QUEUE}
CELERY_TASK_ROUTES["dashboard.rollup_backfill"] = {"queue": MAINTENANCE_QUEUE}
DASHBOARD_ROLLUP_INTERVAL_SECONDS = env.int("DASHBOARD_ROLLUP_INTERVAL_SECONDS", default=300)
DASHBOARD_ROLLUP_LAG_SECONDS = env.int("DASHBOARD_ROLLUP_LAG_SECONDS", default=300)
# Hour (TIME_ZONE) of the nightly full rebuild that drops erased screenings from the rollup.
DASHBOARD_ROLLUP_BACKFILL_HOUR = env.int("DASHBOARD_ROLLUP_BACKFILL_HOUR", default=3)

# RabbitMQ instead of Redis (CELERY_BROKER_URL=amqp://...): durable quorum queues (replicated
# across a RabbitMQ cluster) and publisher confirms, so a message is on the broker's disk before
# the upload is answered. Unacknowledged messages come back as soon as a worker's connection drops.
if CELERY_BROKER_URL.startswith(("amqp://", "amqps://", "pyamqp://")):
    from kombu import Queue

    _queue_arguments = (
        {"x-queue-type": "quorum"} if env.bool("RABBITMQ_QUORUM_QUEUES", default=True) else {}
    )
    CELERY_TASK_QUEUES = [
        Queue(name, routing_key=name, queue_arguments=_queue_arguments)
        for name in ("inference", MAINTENANCE_QUEUE)
    ]
    CELERY_BROKER_TRANSPORT_OPTIONS = {"confirm_publish": True}

# --- Django REST framework ----------------------------------------------------------------------
# Rate limits per client address (portal.security.ratelimit), counted in the shared cache.
RATE_LIMITS = {
    "submission": env.str("API_SUBMISSION_RATE", default="60/hour"),
    "status": env.str("API_STATUS_RATE", default="600/hour"),
    "recovery": env.str("LINK_RECOVERY_CLIENT_RATE", default="10/hour"),
}
# Higher (or lower) rates for trusted networks, e.g. a clinic behind one address:
# "10.20.0.0/16=submission:600/hour,status:6000/hour;..." (portal.security.networks).
RATE_LIMIT_NETWORKS = env.str("RATE_LIMIT_NETWORKS", default="")
# Patient status links: the token in the texted/e-mailed link is exchanged for a cookie.
PATIENT_LINK_MAX_AGE_DAYS = env.int("PATIENT_LINK_MAX_AGE_DAYS", default=90)
PATIENT_COOKIE_PREFIX = "cxr_pt_"
# API tokens (django-rest-knox, hashed): default lifetime of a new integration token.
API_TOKEN_TTL_DAYS = env.int("API_TOKEN_TTL_DAYS", default=90)
KNOX_TOKEN_MODEL = "security.ApiToken"
# knox's own migrations create its (swapped-out) AuthToken table anyway; a leftover table with a
# foreign key to users would stop test databases from being flushed. Our model has its own.
MIGRATION_MODULES = {"knox": None}
REST_KNOX = {
    "TOKEN_MODEL": "security.ApiToken",
    "AUTH_HEADER_PREFIX": "Token",
    "AUTO_REFRESH": False,
}

REST_FRAMEWORK = {
    # Token first: an unauthenticated request gets 401 with `WWW-Authenticate: Token`.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.security.tokens.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "EXCEPTION_HANDLER": "screening.api.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_RATES": RATE_LIMITS,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CXR screening portal API",
    "DESCRIPTION": (
        "REST API v1 of the national COVID-19 chest X-ray screening portal. A triage aid, not a "
        "diagnosis. Errors are JSON objects with `detail` and `code` (validation errors also "
        "carry one list of messages per field)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- security -----------------------------------------------------------------------------------
# Production defaults are the strict ones; each can still be changed by its variable.
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=PRODUCTION)
# Container health checks and the metrics scraper speak plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int(
    "DJANGO_SECURE_HSTS_SECONDS", default=365 * 24 * 3600 if PRODUCTION else 0
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool(
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=PRODUCTION
)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=PRODUCTION)
# Behind our own TLS-terminating proxy, its X-Forwarded-Proto tells Django the request was HTTPS.
if env.bool("DJANGO_SECURE_PROXY_SSL_HEADER", default=PRODUCTION and TRUSTED_PROXY_COUNT > 0):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=PRODUCTION)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=SESSION_COOKIE_SECURE)
PATIENT_COOKIE_SECURE = env.bool("DJANGO_PATIENT_COOKIE_SECURE", default=SESSION_COOKIE_SECURE)
# Error reports (debug page, mail, logs) never show identity fields, tokens or passwords.
DEFAULT_EXCEPTION_REPORTER_FILTER = "portal.security.reporting.PatientDataExceptionReporterFilter"
# Content-Security-Policy (django-csp; portal.security.csp relaxes styles for the admin only).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "style-src": ["'self'"],
        "script-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# Login lockout (django-axes, in the database): LOGIN_FAILURE_LIMIT failures for a username or
# from one address lock it for LOGIN_LOCKOUT_MINUTES; an administrator unlocks it in the admin
# ("Access attempts": delete) or with `manage.py axes_reset_username <name>`.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = env.int("LOGIN_LOCKOUT_MINUTES", default=30) / 60  # hours
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "portal.security.client.client_ip"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False
# The audit trail (portal/audit): append-only, kept at least this long (HIPAA: six years).
AUDIT_RETENTION_DAYS = env.int("AUDIT_RETENTION_DAYS", default=6 * 366)
# Screenings older than this are erased completely by `manage.py erase_screenings --expired`.
SCREENING_RETENTION_DAYS = env.int("SCREENING_RETENTION_DAYS", default=365)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env.int("DJANGO_SESSION_COOKIE_AGE", default=8 * 3600)
CSRF_COOKIE_HTTPONLY = True

# --- logging: ids and references only, never patient data or access tokens ----------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# JSON lines when deployed; readable lines for `make run`.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain" if EMBEDDED else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact_tokens": {"()": "screening.logging.RedactAccessTokensFilter"},
        "request_id": {"()": "portal.logs.RequestIdFilter"},
    },
    "formatters": {
        "plain": {
            "format": "%(asctime)s %(levelname)s %(name)s %(process)d [%(request_id)s] %(message)s"
        },
        # One JSON object per line (python-json-logger): what log shippers expect.
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(process)d %(request_id)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id", "redact_tokens"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.request": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        "celery": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
    },
}
