"""Huibo settings, read from the environment.

With nothing set, Huibo runs on its embedded default: SQLite, a filesystem
Celery broker, a local-memory cache and the PBX simulator as the only
Asterisk node. Production sets DATABASE_URL, REDIS_URL, SECRET_KEY,
ALLOWED_HOSTS and HUIBO_ASTERISK_NODES (see README.md, "Configuration").
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
# The embedded default is for a developer's machine only: production must set
# SECRET_KEY, and refuses to start without it when DEBUG is off.
EMBEDDED = env.bool("HUIBO_EMBEDDED", default="DATABASE_URL" not in env)
SECRET_KEY = env.str("SECRET_KEY", default="embedded-demo-key-not-for-production" if EMBEDDED else environ.Env.NOTSET)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "captcha",
    "tenants",
    "callback",
    "billing",
    "cdr",
    "widget",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "integrations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "huibo.middleware.BrowserLanguageMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "huibo.urls"

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
                "huibo.context_processors.language_switch",
            ],
        },
    },
]

WSGI_APPLICATION = "huibo.wsgi.application"

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'huibo.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded demo runs web, worker and listener on one SQLite file: WAL lets them read while one writes,
    # and IMMEDIATE transactions queue writers instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    # Shared by every demo process (web, worker, listener), unlike locmem.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(BASE_DIR / "var" / "cache"),
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "var" / "static")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# How long each process keeps an enterprise's working hours and holidays (its own changes apply at once).
TENANTS_SCHEDULE_CACHE_SECONDS = env.float("TENANTS_SCHEDULE_CACHE_SECONDS", default=5.0)

LOGIN_URL = "portal:login"
LOGIN_REDIRECT_URL = "portal:dashboard"
LOGOUT_REDIRECT_URL = "portal:login"

# Celery: late acknowledgement so a killed worker's task is delivered again,
# prefetch 1 so one slow task never holds others back (RELIABILITY.md).
CELERY_BROKER_URL = REDIS_URL or "filesystem://"
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {"visibility_timeout": 3600}
    if REDIS_URL
    else {
        "data_folder_in": str(BASE_DIR / "var" / "broker"),
        "data_folder_out": str(BASE_DIR / "var" / "broker"),
        "control_folder": str(BASE_DIR / "var" / "broker-control"),
        # The filesystem transport polls; once a second would add up to a second before every call.
        "polling_interval": 0.1,
    }
)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 10
CELERY_TASK_TIME_LIMIT = 15
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# Unset, Celery's Django fixup closes every database connection before and after each task: a new PostgreSQL
# connection per task, which cost about as much as placing the call. Set, it closes them only every this many
# tasks; huibo.celery tidies them around each task as Django does around a request.
CELERY_DB_REUSE_MAX = 1000
CELERY_TIMEZONE = "UTC"

# Asterisk nodes declared in the environment, synced into the AsteriskNode
# table at start: ami://user:secret@host:5038?channels=200, comma separated.
# The embedded default's one node: the PBX simulator `make demo` starts. Every command of the demo declares the same
# one (place_callback from another shell too), so none replaces another's.
DEMO_AMI_NODE = "ami://huibo:huibo-demo-secret@127.0.0.1:{port}?channels=50&name=simulator"
HUIBO_ASTERISK_NODES = env.list("HUIBO_ASTERISK_NODES", default=[DEMO_AMI_NODE.format(port=5038)] if EMBEDDED else [])

# plain: the console format of `make demo`; json: one object per line with request_id (integrations/logs.py).
LOG_FORMAT = env.str("LOG_FORMAT", default="plain" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "integrations.logs.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "integrations.logs.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
# The worker logs through LOGGING above (JSON with request ids) instead of Celery's own root handler.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

REST_FRAMEWORK = {
    # One handler turns every refusal into {"code", "message", "extra"} (integrations/api/exceptions.py).
    "EXCEPTION_HANDLER": "integrations.api.exceptions.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# The dialplan contexts in asterisk/extensions.conf that every Originate uses.
AMI_OUTBOUND_CONTEXT = env.str("AMI_OUTBOUND_CONTEXT", default="huibo-outbound")
AMI_CALLBACK_CONTEXT = env.str("AMI_CALLBACK_CONTEXT", default="huibo-callback")
AMI_RINGALL_CONTEXT = env.str("AMI_RINGALL_CONTEXT", default="huibo-ringall")
AMI_ACTION_TIMEOUT_SECONDS = env.float("AMI_ACTION_TIMEOUT_SECONDS", default=5.0)
# How long the second leg rings before Asterisk gives up on it.
CALLBACK_SECOND_LEG_TIMEOUT_SECONDS = env.int("CALLBACK_SECOND_LEG_TIMEOUT_SECONDS", default=30)
# A request that cannot get a free line for this long expires rather than ring much later.
CALLBACK_MAX_WAIT_SECONDS = env.int("CALLBACK_MAX_WAIT_SECONDS", default=900)
# A request whose queued next attempt has not run for this long is queued again (lost with a Redis restart).
CALLBACK_STALLED_AFTER_SECONDS = env.int("CALLBACK_STALLED_AFTER_SECONDS", default=30)
# Grace after an attempt's own ring time (its ring timeouts) before the reaper ends it when Asterisk never reported
# on it. With the reaper's 15 s period: final at most 60 s after its phones stopped ringing (RELIABILITY R2).
CALLBACK_REAPER_GRACE_SECONDS = env.int("CALLBACK_REAPER_GRACE_SECONDS", default=45)
BILLING_MAX_CALL_SECONDS = env.int("BILLING_MAX_CALL_SECONDS", default=3600)
# Dead-link detection (RELIABILITY.md R3): a Ping every interval must be answered within the timeout.
AMI_PING_INTERVAL_SECONDS = env.float("AMI_PING_INTERVAL_SECONDS", default=5.0)
AMI_PING_TIMEOUT_SECONDS = env.float("AMI_PING_TIMEOUT_SECONDS", default=5.0)

# Periodic tasks, all in one place.
CELERY_BEAT_SCHEDULE = {
    # Starts scheduled requests when they fall due (working hours open, retry spacing over) and expires
    # the ones that waited too long. Scheduling by beat, not by Celery eta: an eta past the Redis
    # visibility timeout is delivered twice.
    "dispatch-due-requests": {"task": "callback.tasks.dispatch_due_requests", "schedule": 5.0},
    # Ends attempts Asterisk stayed silent about (lost Originate, missed hangup) so no request hangs, and puts a
    # node's load counters right if attempt rows were deleted or edited by hand.
    "reap-silent-attempts": {"task": "callback.tasks.reap_silent_attempts", "schedule": 15.0},
}

# The embeddable widget and its abuse protection (widget/). Defaults are RELIABILITY.md S1, S2 and S6; an
# operator overrides the limits per tenant in the admin ("Widget policies"). S4's spend cap and S7's pumping
# detection are billing's (BILLING_*); the widget refuses what they stop.
WIDGET_REDIS_URL = env.str("WIDGET_REDIS_URL", default=REDIS_URL)
WIDGET_REDIS_KEY_PREFIX = env.str("WIDGET_REDIS_KEY_PREFIX", default="huibo:widget:")
WIDGET_CAPTCHA_TTL_SECONDS = min(env.int("WIDGET_CAPTCHA_TTL_SECONDS", default=300), 300)  # S6: at most 5 min
# Accepts the answer "PASSED" for any live captcha. Only takes effect with DEBUG on or under tests; the
# widget.E001 system check refuses to start otherwise.
WIDGET_CAPTCHA_TEST_MODE = env.bool("WIDGET_CAPTCHA_TEST_MODE", default=False)
WIDGET_CAPTCHA_FLITE_PATH = env.str("WIDGET_CAPTCHA_FLITE_PATH", default="")
# How many proxies in front of the web server append to X-Forwarded-For (0: trust REMOTE_ADDR only).
WIDGET_TRUSTED_PROXY_COUNT = env.int("WIDGET_TRUSTED_PROXY_COUNT", default=0)
WIDGET_STATUS_POLL_MS = env.int("WIDGET_STATUS_POLL_MS", default=1000)
WIDGET_SSE_ENABLED = env.bool("WIDGET_SSE_ENABLED", default=False)
WIDGET_SSE_MAX_SECONDS = env.int("WIDGET_SSE_MAX_SECONDS", default=25)
# How long each web process keeps a widget's settings and the blacklist before reading them again.
WIDGET_CACHE_SECONDS = env.float("WIDGET_CACHE_SECONDS", default=5.0)
# Outside working hours a visitor picks when to be called: at most this many days ahead.
WIDGET_CALL_AT_MAX_DAYS = env.int("WIDGET_CALL_AT_MAX_DAYS", default=7)
ABUSE_NUMBER_MAX_IN_FLIGHT = env.int("ABUSE_NUMBER_MAX_IN_FLIGHT", default=1)
ABUSE_NUMBER_PER_10_MINUTES = env.int("ABUSE_NUMBER_PER_10_MINUTES", default=3)
ABUSE_NUMBER_PER_DAY = env.int("ABUSE_NUMBER_PER_DAY", default=10)
ABUSE_CLIENT_PER_MINUTE = env.int("ABUSE_CLIENT_PER_MINUTE", default=5)
ABUSE_CLIENT_PER_HOUR = env.int("ABUSE_CLIENT_PER_HOUR", default=20)
ABUSE_CLIENT_NUMBERS_PER_HOUR = env.int("ABUSE_CLIENT_NUMBERS_PER_HOUR", default=3)
ABUSE_CLIENT_NUMBERS_PER_DAY = env.int("ABUSE_CLIENT_NUMBERS_PER_DAY", default=4)
ABUSE_CLIENT_CAPTCHAS_PER_MINUTE = env.int("ABUSE_CLIENT_CAPTCHAS_PER_MINUTE", default=30)
ABUSE_ENTERPRISE_PER_HOUR = env.int("ABUSE_ENTERPRISE_PER_HOUR", default=300)
ABUSE_ENTERPRISE_PER_DAY = env.int("ABUSE_ENTERPRISE_PER_DAY", default=2000)
# Automatic blacklisting: this many refusals by a limit within the window blocks the number or client,
# for ABUSE_TEMPORARY_BLOCK_HOURS the first time and until an operator lifts it after that.
ABUSE_STRIKES_BEFORE_BLOCK = env.int("ABUSE_STRIKES_BEFORE_BLOCK", default=5)
ABUSE_STRIKE_WINDOW_SECONDS = env.int("ABUSE_STRIKE_WINDOW_SECONDS", default=3600)
ABUSE_TEMPORARY_BLOCK_HOURS = env.int("ABUSE_TEMPORARY_BLOCK_HOURS", default=24)

# --- Billing and CDRs (billing/, cdr/) ---------------------------------------------------------------------------
# A tenant without a billing account is unmetered (calls up to BILLING_MAX_CALL_SECONDS, CDRs unrated). Production
# operators who bill every tenant set this to refuse calls for tenants that have no account yet.
BILLING_REQUIRE_ACCOUNT = env.bool("BILLING_REQUIRE_ACCOUNT", default=False)
# The shortest call a balance must pay for (both legs) before a call is placed.
BILLING_MINIMUM_CALL_SECONDS = env.int("BILLING_MINIMUM_CALL_SECONDS", default=60)
# Seconds added to the longest call when reserving: the legs' timing and Asterisk's hang-up lag behind the cap.
BILLING_RESERVATION_SLACK_SECONDS = env.int("BILLING_RESERVATION_SLACK_SECONDS", default=2)
# Short-call pumping (RELIABILITY.md S7): over an hour, at least MIN_CALLS connected calls, of which more than
# SHORT_SHARE percent lasted SHORT_SECONDS or less; or PREFIX_SHARE percent to one prefix of PREFIX_DIGITS
# digits that had less than PREFIX_BASELINE_SHARE percent over the week before.
BILLING_PUMPING_MIN_CALLS = env.int("BILLING_PUMPING_MIN_CALLS", default=10)
BILLING_PUMPING_SHORT_SECONDS = env.int("BILLING_PUMPING_SHORT_SECONDS", default=6)
BILLING_PUMPING_SHORT_SHARE = env.int("BILLING_PUMPING_SHORT_SHARE", default=20)
BILLING_PUMPING_PREFIX_DIGITS = env.int("BILLING_PUMPING_PREFIX_DIGITS", default=7)
BILLING_PUMPING_PREFIX_SHARE = env.int("BILLING_PUMPING_PREFIX_SHARE", default=50)
BILLING_PUMPING_PREFIX_BASELINE_SHARE = env.int("BILLING_PUMPING_PREFIX_BASELINE_SHARE", default=10)
# Who hears about suspected fraud; empty: nobody by email (the console shows every alert).
BILLING_ALERT_EMAILS = env.list("BILLING_ALERT_EMAILS", default=[])
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="huibo@localhost")
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend"
    if EMBEDDED
    else "django.core.mail.backends.smtp.EmailBackend",
)
# Where Asterisk's MixMonitor (and the simulator) writes recordings: <CDR_RECORDINGS_DIR>/<Linkedid>.wav.
CDR_RECORDINGS_DIR = env.path("CDR_RECORDINGS_DIR", default=BASE_DIR / "var" / "recordings")
# Asterisk writes Cdr times in its server's local time; empty means this machine's local time.
CDR_ASTERISK_TIME_ZONE = env.str("CDR_ASTERISK_TIME_ZONE", default="")
# Engine and Asterisk timings further apart than this are logged (cdr.timing_mismatch) and shown on the CDR.
CDR_TIMING_TOLERANCE_SECONDS = env.int("CDR_TIMING_TOLERANCE_SECONDS", default=2)
CDR_PAGE_SIZE = env.int("CDR_PAGE_SIZE", default=50)
CELERY_BEAT_SCHEDULE |= {
    # Issues last month's invoices (idempotent: a tenant already invoiced for the month gets nothing more).
    "issue-monthly-invoices": {"task": "billing.tasks.issue_monthly_invoices", "schedule": 3600.0},
    # Gives back funds held by calls whose CDR hand-off never came (a lost task), an hour past the longest call.
    "release-stale-reservations": {"task": "billing.tasks.release_stale_reservations", "schedule": 900.0},
    # Fills in Asterisk Cdrs and recordings that arrived after a call's CDRs were written.
    "reconcile-late-cdrs": {"task": "cdr.tasks.reconcile_recent", "schedule": 300.0},
}
# --- end of billing and CDRs ---

# --- Integrations (integrations/): REST API, webhooks, metrics, health, logs ---------------------------------------
# First: request id, metrics, and /healthz /readyz /metrics answered before ALLOWED_HOSTS is checked.
MIDDLEWARE = ["integrations.middleware.RequestContextMiddleware", *MIDDLEWARE]
# The widget's public JSON API keeps only what it uses: request id and metrics, security headers, the
# ALLOWED_HOSTS check (huibo/wsgi.py routes it).
PUBLIC_API_PATH_PREFIX = "/api/widget/"
PUBLIC_API_MIDDLEWARE = [
    "integrations.middleware.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
API_RATE_LIMIT_PER_MINUTE = env.int("API_RATE_LIMIT_PER_MINUTE", default=120)
API_IDEMPOTENCY_TTL_HOURS = env.int("API_IDEMPOTENCY_TTL_HOURS", default=24)
API_PAGE_SIZE = env.int("API_PAGE_SIZE", default=50)
API_MAX_PAGE_SIZE = env.int("API_MAX_PAGE_SIZE", default=200)
# Prefix of every Redis key integrations writes (rate limits, metrics, heartbeats); tests give each test its own.
INTEGRATIONS_REDIS_PREFIX = env.str("INTEGRATIONS_REDIS_PREFIX", default="huibo:")
INTEGRATIONS_REDIS_TIMEOUT_SECONDS = env.float("INTEGRATIONS_REDIS_TIMEOUT_SECONDS", default=0.5)
# Webhooks go through their own Celery queue so a slow receiver never holds a worker the calls need. The
# embedded demo runs one worker on the default queue, so there they share it.
INTEGRATIONS_WEBHOOK_QUEUE = env.str("INTEGRATIONS_WEBHOOK_QUEUE", default="celery" if EMBEDDED else "webhooks")
INTEGRATIONS_WEBHOOK_CONNECT_TIMEOUT_SECONDS = env.float("INTEGRATIONS_WEBHOOK_CONNECT_TIMEOUT_SECONDS", default=3.0)
INTEGRATIONS_WEBHOOK_READ_TIMEOUT_SECONDS = env.float("INTEGRATIONS_WEBHOOK_READ_TIMEOUT_SECONDS", default=5.0)
INTEGRATIONS_WEBHOOK_MAX_ATTEMPTS = env.int("INTEGRATIONS_WEBHOOK_MAX_ATTEMPTS", default=8)
INTEGRATIONS_WEBHOOK_BACKOFF_BASE_SECONDS = env.float("INTEGRATIONS_WEBHOOK_BACKOFF_BASE_SECONDS", default=10.0)
# Capped well under the Redis visibility timeout (1 h): a longer countdown would be delivered twice.
INTEGRATIONS_WEBHOOK_BACKOFF_MAX_SECONDS = env.float("INTEGRATIONS_WEBHOOK_BACKOFF_MAX_SECONDS", default=1800.0)
INTEGRATIONS_WEBHOOK_SWEEP_GRACE_SECONDS = env.int("INTEGRATIONS_WEBHOOK_SWEEP_GRACE_SECONDS", default=120)
# Receivers on private or loopback addresses could reach Redis, AMI or cloud metadata from our network: refused
# in production, allowed on the embedded demo (a receiver on the developer's own machine).
INTEGRATIONS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env.bool(
    "INTEGRATIONS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES", default=EMBEDDED
)
INTEGRATIONS_WORKER_HEARTBEAT_MAX_AGE_SECONDS = env.int("INTEGRATIONS_WORKER_HEARTBEAT_MAX_AGE_SECONDS", default=60)
# When set, /metrics wants "Authorization: Bearer <token>".
INTEGRATIONS_METRICS_TOKEN = env.str("INTEGRATIONS_METRICS_TOKEN", default="")
SPECTACULAR_SETTINGS = {
    "TITLE": "Huibo API",
    "DESCRIPTION": "Web callback: create callbacks, follow them, read CDRs, invoices and the balance. "
    "Authenticate with an API key from the enterprise portal: Authorization: Bearer <key>.",
    "VERSION": "1.0.0",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # Swagger UI and Redoc from our own static files: no CDN (often unreachable where Huibo runs).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "PREPROCESSING_HOOKS": ["integrations.api.schema.only_api_v1"],
}
CELERY_BEAT_SCHEDULE |= {
    # Proves to /readyz that each queue has a live worker (integrations/services/heartbeat.py).
    **{
        f"worker-heartbeat-{queue}": {
            "task": "integrations.tasks.worker_heartbeat",
            "schedule": 15.0,
            "args": (queue,),
            "options": {"queue": queue, "expires": 15},
        }
        for queue in dict.fromkeys(("celery", INTEGRATIONS_WEBHOOK_QUEUE))
    },
    # Queues webhook deliveries whose task was lost (broker restart); each try claims its delivery first.
    "dispatch-overdue-webhooks": {"task": "integrations.tasks.dispatch_overdue_webhooks", "schedule": 60.0},
    # Forgets Idempotency-Key records past API_IDEMPOTENCY_TTL_HOURS.
    "purge-idempotency-records": {"task": "integrations.tasks.purge_idempotency_records", "schedule": 3600.0},
}
# --- end of integrations ---
