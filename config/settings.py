"""Settings for Handoff, read from the environment (and a `.env` file beside manage.py).

The embedded default (nothing set but `DEBUG=1`) is SQLite in WAL mode, the in-memory
channel layer and tasks run in-process on a small thread pool. Setting `DATABASE_URL`
and `REDIS_URL` turns the same code into the scaled-out shape: PostgreSQL, the Redis
channel layer and Celery workers on Redis.
"""

import base64
import hashlib
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from config import task_names

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)

if DEBUG:
    SECRET_KEY = env("SECRET_KEY", default="handoff-development-only-secret-key-change-me-0123456789")
else:
    SECRET_KEY = env("SECRET_KEY")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# The sandbox (phone simulator and stand-in Graph API) exists only for demos and tests.
SANDBOX_ENABLED = env.bool("SANDBOX_ENABLED", default=DEBUG)
# Where the sandbox posts its webhooks; empty means this server, as seen by the request.
SANDBOX_WEBHOOK_URL = env("SANDBOX_WEBHOOK_URL", default="")
# Seconds before a template created at the sandbox's stand-in Graph is reviewed.
SANDBOX_TEMPLATE_REVIEW_SECONDS = env.float("SANDBOX_TEMPLATE_REVIEW_SECONDS", default=2.0)
# The port `make run` serves on (the demo number's stand-in Graph lives there).
PORT = env.int("PORT", default=8000)

INSTALLED_APPS = [
    "daphne",
    "agents.apps.HandoffAdminConfig",  # Django's admin on the audited site (agents.admin_site)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "servestatic",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "channels",
    "encrypted_model_fields",
    "conversations",
    "conversations.providers.sandbox",
    "agents",
    "bots",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "servestatic.middleware.ServeStaticMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "agents.services.audit.audit_context_middleware",
    "agents.preferences.agent_preferences_middleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

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

# --- Database -------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Persistent connections leak under ASGI (each request thread keeps its own), so
    # connections are pooled by psycopg's pool and released after every request.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # With a pool, Django passes `check=ConnectionPool.check_connection` to psycopg_pool
    # when health checks are on: a pooled connection is tested (one round trip) before it
    # is handed out, so after a PostgreSQL restart the first request gets a fresh
    # connection instead of a dead one (AdminShutdown, a 500).
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DB_POOL_MIN", default=1),
        "max_size": env.int("DB_POOL_MAX", default=20),
        "timeout": env.int("DB_POOL_TIMEOUT", default=10),
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, channel layer, cache, Celery ----------------------------------------------
REDIS_URL = env("REDIS_URL", default="")

if REDIS_URL:
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff

    # redis-py's default 5 s read timeout races the core layer's 5 s blocking pop and kills
    # idle consumers under load; reads may wait longer than the pop. After a Redis restart
    # every pooled connection fails its first command (desk sockets refused with 500, events
    # dropped): such a command is retried at once on a fresh connection.
    _REDIS_HOST = {"address": REDIS_URL, "socket_timeout": 30, "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), 2)}
    # `pubsub` (default): a group event is published once and each daphne process receives it
    # once and hands it to its own sockets (an idle socket takes it at once: config.fanout),
    # so a broadcast costs one Redis round trip per process instead of one per socket.
    # `core`: per-channel lists with capacity and expiry.
    # Either way the socket is a notification: the desk catches up from the database.
    CHANNEL_LAYER_KIND = env("CHANNEL_LAYER_KIND", default="pubsub")
    if CHANNEL_LAYER_KIND == "pubsub":
        CHANNEL_LAYERS = {
            "default": {"BACKEND": "config.fanout.FanoutPubSubChannelLayer", "CONFIG": {"hosts": [_REDIS_HOST]}}
        }
    elif CHANNEL_LAYER_KIND == "core":
        CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {"hosts": [_REDIS_HOST], "capacity": 1500, "expiry": 30},
            }
        }
    else:
        raise ImproperlyConfigured(f"CHANNEL_LAYER_KIND must be pubsub or core, not {CHANNEL_LAYER_KIND!r}")
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "config.fanout.FanoutInMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# The desk websocket: frame size and rate caps (over them the socket is closed), and how
# often an open socket re-checks its user, session, teams and subscriptions.
DESK_WS_MAX_FRAME_BYTES = env.int("DESK_WS_MAX_FRAME_BYTES", default=4096)
DESK_WS_RATE_FRAMES = env.int("DESK_WS_RATE_FRAMES", default=20)
DESK_WS_RATE_WINDOW_SECONDS = env.float("DESK_WS_RATE_WINDOW_SECONDS", default=10.0)
DESK_WS_REVALIDATE_SECONDS = env.float("DESK_WS_REVALIDATE_SECONDS", default=30.0)
DESK_WS_MAX_SUBSCRIPTIONS = env.int("DESK_WS_MAX_SUBSCRIPTIONS", default=50)
# The web chat widget (README, "Web chat"): how long a visitor token lasts without use
# (each session call and socket greeting issues a fresh one), how long a link to one of the
# conversation's files works (each frame and catch-up carries fresh ones), and the visitor socket's limits.
WEBCHAT_TOKEN_MAX_AGE_SECONDS = env.int("WEBCHAT_TOKEN_MAX_AGE_SECONDS", default=30 * 24 * 3600)
WEBCHAT_MEDIA_LINK_SECONDS = env.int("WEBCHAT_MEDIA_LINK_SECONDS", default=24 * 3600)
WEBCHAT_WS_MAX_FRAME_BYTES = env.int("WEBCHAT_WS_MAX_FRAME_BYTES", default=8192)
WEBCHAT_WS_RATE_FRAMES = env.int("WEBCHAT_WS_RATE_FRAMES", default=30)
WEBCHAT_WS_RATE_WINDOW_SECONDS = env.float("WEBCHAT_WS_RATE_WINDOW_SECONDS", default=10.0)

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# The queue tasks go to and workers read (a separate one keeps benchmark runs apart).
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_QUEUE", default="celery")
# Celery's Django fixup closes the worker's connection pool around every task unless this is
# set; config.celery returns connections to the pool instead (it closes all only after
# twice this many tasks).
CELERY_DB_REUSE_MAX = 10_000
CELERY_TIMEZONE = "UTC"
# The webhook request must never hang on the broker: one quick try, then the periodic
# sweep picks the stored event up.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 5, "max_retries": 1, "interval_start": 0}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# Task modules beyond each app's tasks.py (workers import them at start).
CELERY_IMPORTS = [
    "conversations.delivery_tasks",
    "conversations.media_tasks",
    "conversations.providers.sandbox.tasks",
]
# How often the recovery sweeps run: webhook events still pending, and outbound messages
# whose dispatch was lost or whose worker died mid-send (seconds).
WEBHOOK_SWEEP_EVERY_SECONDS = env.float("WEBHOOK_SWEEP_EVERY_SECONDS", default=15.0)
DELIVERY_SWEEP_EVERY_SECONDS = env.float("DELIVERY_SWEEP_EVERY_SECONDS", default=30.0)
# How often each number's messaging limit and quality are read from Graph (seconds).
NUMBER_LIMITS_REFRESH_EVERY_SECONDS = env.float("NUMBER_LIMITS_REFRESH_EVERY_SECONDS", default=6 * 3600.0)
# Periodic work (Celery beat in production; `manage.py run_embedded` runs the same
# schedule in-process). Each entry: task name -> seconds between runs.
PERIODIC_TASKS: dict[str, float] = {
    task_names.WEBHOOK_SWEEP: WEBHOOK_SWEEP_EVERY_SECONDS,
    task_names.ROUTING_SWEEP: 10,
    task_names.PRESENCE_SWEEP: 30,
    task_names.SLA_SWEEP: 30,
    task_names.QUEUE_MESSAGES_SWEEP: 60,
    task_names.MESSAGES_SWEEP_PENDING: DELIVERY_SWEEP_EVERY_SECONDS,
    task_names.MEDIA_DOWNLOADS_SWEEP: 60,
    task_names.CAMPAIGNS_TICK: 15,
    task_names.TEMPLATES_SYNC_ALL: 3600,
    # Messaging limits and quality read from Graph, in case a webhook about them was missed.
    task_names.NUMBER_LIMITS_REFRESH_ALL: NUMBER_LIMITS_REFRESH_EVERY_SECONDS,
    task_names.BOT_SWEEP_UNANSWERED: 30,
    task_names.RETENTION_APPLY: 24 * 3600,
    task_names.AUDIT_PRUNE: 24 * 3600,
    # The remediation countdown: hourly, so a reminder or an expiry is never a day late.
    task_names.REMEDIATION_TICK: 3600,
    # Outgoing webhooks: deliveries due (retries, lost dispatches), stuck claims put back.
    task_names.WEBHOOK_DELIVERIES_SWEEP: 15,
}
CELERY_BEAT_SCHEDULE = {
    name: {"task": name, "schedule": seconds} for name, seconds in PERIODIC_TASKS.items()
}

# How tasks run: "celery" (workers on the broker), "thread" (in this process, after
# commit, on a small pool: the embedded default) or "inline" (in this thread after
# commit: tests).
TASKS_MODE = env("TASKS_MODE", default="celery" if (REDIS_URL or env("CELERY_BROKER_URL", default="")) else "thread")
# Celery mode: under a steady stream, tasks that may share one message (webhook intake)
# go out at most this often per process (config.publisher); after a quiet spell at once.
TASKS_COALESCE_SECONDS = env.float("TASKS_COALESCE_SECONDS", default=0.025)

# --- WhatsApp ---------------------------------------------------------------------------
WHATSAPP_API_BASE = env("WHATSAPP_API_BASE", default="https://graph.facebook.com/v23.0")
WHATSAPP_API_BASE_IS_SET = "WHATSAPP_API_BASE" in env.ENVIRON
WHATSAPP_PHONE_NUMBER_ID = env("WHATSAPP_PHONE_NUMBER_ID", default="")
WHATSAPP_BUSINESS_ACCOUNT_ID = env("WHATSAPP_BUSINESS_ACCOUNT_ID", default="")
WHATSAPP_DISPLAY_PHONE_NUMBER = env("WHATSAPP_DISPLAY_PHONE_NUMBER", default="")
WHATSAPP_ACCESS_TOKEN = env("WHATSAPP_ACCESS_TOKEN", default="")
WHATSAPP_APP_SECRET = env("WHATSAPP_APP_SECRET", default="")
WHATSAPP_VERIFY_TOKEN = env("WHATSAPP_VERIFY_TOKEN", default="")
WHATSAPP_HTTP_TIMEOUT = env.float("WHATSAPP_HTTP_TIMEOUT", default=10.0)
# Outbound delivery: transient errors retry with exponential backoff from the base,
# capped per attempt, up to the attempt limit; then the message fails.
WHATSAPP_SEND_MAX_ATTEMPTS = env.int("WHATSAPP_SEND_MAX_ATTEMPTS", default=8)
WHATSAPP_RETRY_BASE_SECONDS = env.float("WHATSAPP_RETRY_BASE_SECONDS", default=5.0)
WHATSAPP_RETRY_MAX_SECONDS = env.float("WHATSAPP_RETRY_MAX_SECONDS", default=300.0)
# How long a delivery waits for a slot of the number's throughput before rescheduling.
WHATSAPP_THROUGHPUT_WAIT_SECONDS = env.float("WHATSAPP_THROUGHPUT_WAIT_SECONDS", default=5.0)
# A message claimed for sending whose worker has not finished within this lease is taken
# back by the delivery sweep (a worker that died mid-send); keep it well above
# WHATSAPP_HTTP_TIMEOUT.
DELIVERY_LEASE_SECONDS = env.int("DELIVERY_LEASE_SECONDS", default=120)
# Messages one customer may get back to back before the ~1 per 6 s pair rate applies.
WHATSAPP_RECIPIENT_BURST = env.int("WHATSAPP_RECIPIENT_BURST", default=20)
# Campaigns: rows claimed per batch, seconds one task runs before handing over, share of
# the number's throughput campaigns may use (headroom for the desk and pacing jitter),
# gap after any message to the same customer, and when a claimed row counts as abandoned.
CAMPAIGN_BATCH_SIZE = env.int("CAMPAIGN_BATCH_SIZE", default=50)
CAMPAIGN_SLICE_SECONDS = env.float("CAMPAIGN_SLICE_SECONDS", default=20.0)
CAMPAIGN_THROUGHPUT_SHARE = env.float("CAMPAIGN_THROUGHPUT_SHARE", default=0.95)
CAMPAIGN_RECIPIENT_SPACING_SECONDS = env.float("CAMPAIGN_RECIPIENT_SPACING_SECONDS", default=6.0)
CAMPAIGN_CLAIM_STALE_SECONDS = env.int("CAMPAIGN_CLAIM_STALE_SECONDS", default=120)
CAMPAIGN_MAX_ATTEMPTS = env.int("CAMPAIGN_MAX_ATTEMPTS", default=5)
CAMPAIGN_PARALLEL_SLICES = env.int("CAMPAIGN_PARALLEL_SLICES", default=1)
# Webhook bodies are stored from the server's event loop, those arriving together in one
# insert (conversations.services.webhook_store; PostgreSQL, tasks not run inline).
WEBHOOK_STORE_BATCHED = env.bool("WEBHOOK_STORE_BATCHED", default=True)
WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", default=3 * 1024 * 1024)
# Events still unprocessed this long after arrival are enqueued again by the sweep.
WEBHOOK_SWEEP_AFTER_SECONDS = env.int("WEBHOOK_SWEEP_AFTER_SECONDS", default=30)
CUSTOMER_SERVICE_WINDOW_HOURS = 24
# A resolved conversation reopens on the customer's next message within this period.
CONVERSATION_REOPEN_HOURS = env.int("CONVERSATION_REOPEN_HOURS", default=24)
# The customer's language (conversations.languages; README "Languages"): the languages texts are
# chosen from and detection may answer (of en, es, pt, de, fr, hi), how many of a contact's first
# text messages detection reads, and the confidence a detected language needs.
CUSTOMER_LANGUAGES = env.list("CUSTOMER_LANGUAGES", default=["en", "es", "pt", "de", "fr", "hi"])
LANGUAGE_DETECTION_MESSAGES = env.int("LANGUAGE_DETECTION_MESSAGES", default=3)
LANGUAGE_DETECTION_MIN_CONFIDENCE = env.float("LANGUAGE_DETECTION_MIN_CONFIDENCE", default=0.5)
# An online agent without a desk connection or heartbeat this long is moved to away.
PRESENCE_AWAY_AFTER_SECONDS = env.int("PRESENCE_AWAY_AFTER_SECONDS", default=120)

# Retention (conversations.services.retention; README "Erasure and retention"): days each kind of
# data is kept, 0 for ever; older data is deleted or anonymised by a daily task.
# WhatsApp redelivers webhooks for up to 7 days: the rows dedupe relies on stay 8 or more.
RETENTION_WEBHOOK_BODY_DAYS = env.int("RETENTION_WEBHOOK_BODY_DAYS", default=30)
RETENTION_WEBHOOK_EVENT_DAYS = env.int("RETENTION_WEBHOOK_EVENT_DAYS", default=90)
RETENTION_STATUS_DAYS = env.int("RETENTION_STATUS_DAYS", default=90)
RETENTION_PLATFORM_EVENT_DAYS = env.int("RETENTION_PLATFORM_EVENT_DAYS", default=365)
RETENTION_MEDIA_DAYS = env.int("RETENTION_MEDIA_DAYS", default=90)
RETENTION_MESSAGE_DAYS = env.int("RETENTION_MESSAGE_DAYS", default=365)
for _name in ("RETENTION_WEBHOOK_BODY_DAYS", "RETENTION_WEBHOOK_EVENT_DAYS", "RETENTION_STATUS_DAYS",
              "RETENTION_PLATFORM_EVENT_DAYS"):
    if 0 < globals()[_name] < 8 or globals()[_name] < 0:
        raise ValueError(f"{_name} must be 0 (keep for ever) or at least 8 days: WhatsApp redelivers webhooks for 7.")
for _name in ("RETENTION_MEDIA_DAYS", "RETENTION_MESSAGE_DAYS"):
    if globals()[_name] < 0:
        raise ValueError(f"{_name} must be 0 (keep for ever) or a number of days.")

# Secrets stored in the database (access tokens, app secrets) are encrypted with this key.
if DEBUG:
    FIELD_ENCRYPTION_KEY = env(
        "FIELD_ENCRYPTION_KEY",
        default=base64.urlsafe_b64encode(hashlib.sha256(SECRET_KEY.encode()).digest()).decode(),
    )
else:
    FIELD_ENCRYPTION_KEY = env("FIELD_ENCRYPTION_KEY")

DEMO_PASSWORD = env("DEMO_PASSWORD", default="demo")

# --- Email (alerts) -------------------------------------------------------------------------
# EMAIL_URL: smtp://user:password@host:25, smtp+tls://…:587, smtp+ssl://…:465; consolemail://
# prints every email to the log (the demo's default).
_email = env.email_url("EMAIL_URL", default="consolemail://" if DEBUG else "smtp://localhost:25")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email.get("EMAIL_HOST") or "localhost"
EMAIL_PORT = _email.get("EMAIL_PORT") or 25
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER") or ""
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = bool(_email.get("EMAIL_USE_TLS"))
EMAIL_USE_SSL = bool(_email.get("EMAIL_USE_SSL"))
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="handoff@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# The address people reach this site at, for links in alert emails (e.g. https://desk.example.com).
SITE_URL = env("SITE_URL", default=f"http://127.0.0.1:{PORT}" if DEBUG else "")

# Audit log entries older than this many days are deleted daily; 0 keeps them forever.
AUDIT_RETENTION_DAYS = env.int("AUDIT_RETENTION_DAYS", default=365)
if AUDIT_RETENTION_DAYS < 0:
    raise ValueError("AUDIT_RETENTION_DAYS must be 0 (keep forever) or a number of days.")

# --- Auth, API ----------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/desk/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "config.api_schema.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "config.api_errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Handoff API",
    "DESCRIPTION": "Conversations, messages, contacts, consent, templates and campaigns.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "ENUM_NAME_OVERRIDES": {
        "ConversationStatusEnum": "conversations.models.Conversation.Status",
        "MessageStatusEnum": "conversations.models.Message.Status",
        "TemplateCategoryEnum": "notifications.models.templates.TemplateCategory",
        "ConsentChangeCategoryEnum": ["marketing", "utility", "all"],
        "ErasureViaEnum": "conversations.models.ContactErasure.Via",
    },
}

# --- i18n, static -------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
# The desk and monitor speak these (an agent picks one in their profile, else the browser's).
# Customers' texts come in more languages (CUSTOMER_LANGUAGES); all catalogues are in locale/.
LANGUAGES = [("en", "English"), ("es", "Español"), ("pt", "Português")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").exists() else []
# Media files (customers' photos, voice notes, documents; files agents send) go through
# Django's storage API: the local file system under MEDIA_ROOT by default, S3-compatible
# object storage (django-storages) when MEDIA_STORAGE=s3. They are never served from
# MEDIA_URL: conversations.media_views checks access on every request.
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(BASE_DIR / "media")))
MEDIA_URL = "/media/files/"
MEDIA_STORAGE = env("MEDIA_STORAGE", default="filesystem")
if MEDIA_STORAGE == "s3":
    _default_storage: dict = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env("MEDIA_S3_BUCKET"),
            "endpoint_url": env("MEDIA_S3_ENDPOINT_URL", default=None),
            "region_name": env("MEDIA_S3_REGION", default=None),
            "access_key": env("MEDIA_S3_ACCESS_KEY_ID", default=None),
            "secret_key": env("MEDIA_S3_SECRET_ACCESS_KEY", default=None),
            "location": env("MEDIA_S3_PREFIX", default="media"),
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
elif MEDIA_STORAGE == "filesystem":
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
else:
    raise ValueError("MEDIA_STORAGE must be 'filesystem' or 's3'.")
# Hosts a media download may be fetched from (the URL Graph answers for a media id; a
# leading `*.` allows subdomains). Meta's hosts in production; the sandbox's in the demo.
_META_MEDIA_HOSTS = ["lookaside.fbsbx.com", "*.fbsbx.com", "*.fbcdn.net", "*.whatsapp.net"]
MEDIA_DOWNLOAD_HOSTS = env.list(
    "MEDIA_DOWNLOAD_HOSTS",
    default=_META_MEDIA_HOSTS + (["127.0.0.1", "localhost"] if SANDBOX_ENABLED else []),
)
MEDIA_DOWNLOAD_MAX_ATTEMPTS = env.int("MEDIA_DOWNLOAD_MAX_ATTEMPTS", default=5)
MEDIA_DOWNLOAD_TIMEOUT = env.float("MEDIA_DOWNLOAD_TIMEOUT", default=30.0)

STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "servestatic.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Security (production defaults; `manage.py check --deploy` is clean) ------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # the desk's JS module reads it to send X-CSRFToken
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING"}, "daphne": {"level": "WARNING"}},
}

# --- Integrations: outgoing webhooks and the flow bots' HTTP lookups -------------------------
# Calls to addresses an admin typed in (config.outbound_http): https only in production, and
# no private, loopback or link-local targets unless allowed (a business on the same network).
OUTBOUND_REQUIRE_HTTPS = env.bool("OUTBOUND_REQUIRE_HTTPS", default=not DEBUG)
OUTBOUND_ALLOW_PRIVATE_ADDRESSES = env.bool("OUTBOUND_ALLOW_PRIVATE_ADDRESSES", default=DEBUG)
# Outgoing webhooks: seconds an endpoint may take to answer; the first retry's delay (doubling
# each time, at most WEBHOOK_RETRY_MAX_DELAY_SECONDS); how long an event is retried; how long
# an endpoint may fail without a success before it is disabled and an alert raised.
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
WEBHOOK_RETRY_BASE_SECONDS = env.float("WEBHOOK_RETRY_BASE_SECONDS", default=30.0)
WEBHOOK_RETRY_MAX_DELAY_SECONDS = env.float("WEBHOOK_RETRY_MAX_DELAY_SECONDS", default=6 * 3600.0)
WEBHOOK_RETRY_FOR_SECONDS = env.float("WEBHOOK_RETRY_FOR_SECONDS", default=3 * 24 * 3600.0)
WEBHOOK_DISABLE_AFTER_SECONDS = env.float("WEBHOOK_DISABLE_AFTER_SECONDS", default=24 * 3600.0)
# Celery: a queue of their own for webhook deliveries (run a worker with `-Q <name>`), so slow
# endpoints never hold the workers that answer customers. Empty: the default queue.
WEBHOOK_QUEUE = env("WEBHOOK_QUEUE", default="")
if WEBHOOK_QUEUE:
    CELERY_TASK_ROUTES = {task_names.WEBHOOK_DELIVER: {"queue": WEBHOOK_QUEUE}}
# Flow bots' HTTP lookups: when set, the only URL prefixes an admin may register as a lookup
# service's base (comma-separated); empty leaves it to the admin (SSRF rules still apply).
# LOOKUP_MAX_BYTES: a larger answer is a failed lookup.
LOOKUP_ALLOWED_BASES = env.list("LOOKUP_ALLOWED_BASES", default=[])
LOOKUP_MAX_BYTES = env.int("LOOKUP_MAX_BYTES", default=256 * 1024)
