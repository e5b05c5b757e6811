"""Clocher settings: every value comes from a CLOCHER_* environment variable.

`clocher init` writes `<data dir>/clocher.env` with the embedded defaults, commented; the
file is read at start-up for the keys the real environment does not set (the environment
always wins, 12-factor style).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url

from clocher.envfile import load_env_file

BASE_DIR = Path(__file__).resolve().parent


def env(name: str, default: str = "") -> str:
    return os.environ.get(f"CLOCHER_{name}", default)


def env_bool(name: str, default: bool = False) -> bool:
    return env(name, "1" if default else "0").strip().lower() in {"1", "true", "yes", "on", "oui"}


def env_int(name: str, default: int) -> int:
    return int(env(name, str(default)))


DATA_DIR = Path(env("DATA_DIR", str(Path.home() / ".local/share/clocher"))).expanduser()
ENV_FILE = DATA_DIR / "clocher.env"
load_env_file(ENV_FILE)


def _secret_key() -> str:
    """The key comes from the environment, else from a 0600 file in the data dir.

    It is never embedded in the code: a fresh data dir gets a fresh random key.
    """
    value = env("SECRET_KEY")
    if value:
        return value
    key_file = DATA_DIR / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(50)
    tmp = key_file.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    os.replace(tmp, key_file)
    return value


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG")
BASE_URL = env("BASE_URL", "http://localhost:8000").rstrip("/")
BIND = env("BIND", "127.0.0.1:8000")
# Behind a reverse proxy (several nodes): the proxy's addresses (comma-separated), from
# which the web server takes the PROXY protocol line naming the real client (the address
# the audit journal, the brute-force detector and /metrics see). Empty: no proxy.
PROXY_FROM = env("PROXY_FROM", "")
# The file server (granian, `clocher.vault.dav.server`): where it listens; empty: the web
# port + 1. HAProxy sends it the sync clients' /remote.php/dav/files/ requests.
FILES_BIND = env("FILES_BIND", "")
ALLOWED_HOSTS = [h.strip() for h in env("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")]
CSRF_TRUSTED_ORIGINS = [BASE_URL]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "django_tasks",
    "django_tasks_db",
    "clocher.core",
    "clocher.accounts",
    "clocher.onboarding",
    "clocher.api",
    "clocher.mail",
    "clocher.storage",
    "clocher.vault",
    "clocher.shield",
    "clocher.archive",
    "clocher.energy",
    "clocher.forecast",
    "clocher.finance",
    "clocher.supervision",
    "clocher.incidents",
    "clocher.operations",
    "clocher.awareness",
    "clocher.groupware",
    "clocher.eservices",
    "clocher.governance",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "clocher.core.middleware.RefuseNulMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "clocher.accounts.middleware.TwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "clocher.core.middleware.SecurityHeadersMiddleware",
]

ROOT_URLCONF = "clocher.urls"
WSGI_APPLICATION = "clocher.wsgi.application"

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
                "clocher.core.context_processors.platform",
                "clocher.incidents.context_processors.incident_notices",
            ],
        },
    },
]

# --- Database: SQLite (WAL) in the data dir by default, PostgreSQL in production.
DATABASE_URL = env("DATABASE_URL", f"sqlite:///{DATA_DIR / 'clocher.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Connections persist (60 s) as with PostgreSQL: opening one and running the PRAGMAs
    # below for every request was a seventh of a small WebDAV request's CPU.
    # Tests use a file too (not shared-cache memory) so locking behaves as in production.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-clocher.sqlite3")}
    DATABASES["default"]["OPTIONS"] = {
        # IMMEDIATE: writers queue on the lock instead of failing on an upgraded read.
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
        ),
    }
else:
    # Statements may be prepared on the connection: `core.prepared` asks for it on the
    # hot DAV queries (the ORM's own cursors bind on the client and never prepare).
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 5
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["clocher.accounts.backends.EmailBackend"]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "core:home"
LOGOUT_REDIRECT_URL = "core:home"

# Login throttling: after N failures for one address (or one client IP) within the
# window, logins are refused until the window has passed.
LOGIN_MAX_FAILURES = env_int("LOGIN_MAX_FAILURES", 5)
LOGIN_LOCKOUT_MINUTES = env_int("LOGIN_LOCKOUT_MINUTES", 15)
INVITATION_VALID_DAYS = env_int("INVITATION_VALID_DAYS", 7)

# Optional OpenID Connect (ProConnect-compatible): enabled when the client id is set.
OIDC_ENABLED = bool(env("OIDC_CLIENT_ID"))
if OIDC_ENABLED:
    INSTALLED_APPS.append("mozilla_django_oidc")
    AUTHENTICATION_BACKENDS.append("clocher.accounts.oidc.ClocherOIDCBackend")
    OIDC_RP_CLIENT_ID = env("OIDC_CLIENT_ID")
    OIDC_RP_CLIENT_SECRET = env("OIDC_CLIENT_SECRET")
    OIDC_OP_AUTHORIZATION_ENDPOINT = env("OIDC_AUTHORIZATION_ENDPOINT")
    OIDC_OP_TOKEN_ENDPOINT = env("OIDC_TOKEN_ENDPOINT")
    OIDC_OP_USER_ENDPOINT = env("OIDC_USERINFO_ENDPOINT")
    OIDC_OP_JWKS_ENDPOINT = env("OIDC_JWKS_ENDPOINT")
    OIDC_RP_SIGN_ALGO = env("OIDC_SIGN_ALGO", "RS256")
    OIDC_RP_SCOPES = env("OIDC_SCOPES", "openid email given_name usual_name")
    OIDC_CREATE_USER = False

LANGUAGE_CODE = "fr"
# French only until another language has its catalogue in LOCALE_PATHS: offering "en"
# made an English browser get French pages with English numbers, dates and form errors.
LANGUAGES = [("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env("TIME_ZONE", "Europe/Paris")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# --- Mail sent by the platform (invitations, notices, alerts): through the platform's own
# Postfix (its loopback listener, MAIL_REINJECT_PORT) by default, or an external relay
# (CLOCHER_SMTP_HOST). What cannot leave at once waits in OUTBOX_DIR/pending/ and
# `clocher serve` re-sends it (clocher.core.mailer). CLOCHER_SMTP_HOST=file: only files
# in OUTBOX_DIR, nothing sent (a machine that must not send).
OUTBOX_DIR = Path(env("OUTBOX_DIR", str(DATA_DIR / "outbox")))
SMTP_HOST = env("SMTP_HOST")
if SMTP_HOST == "file":
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(OUTBOX_DIR)
else:
    EMAIL_BACKEND = "clocher.core.mailer.SpoolingEmailBackend"
    EMAIL_HOST = SMTP_HOST  # empty: 127.0.0.1:MAIL_REINJECT_PORT
    EMAIL_PORT = env_int("SMTP_PORT", 25)
    EMAIL_HOST_USER = env("SMTP_USER")
    EMAIL_HOST_PASSWORD = env("SMTP_PASSWORD")
    EMAIL_USE_TLS = env_bool("SMTP_STARTTLS")
    EMAIL_TIMEOUT = env_int("SMTP_TIMEOUT", 30)
# Left as is: `ne-pas-repondre@<the operator's shared mail domain>` when sending.
DEFAULT_FROM_EMAIL = env("FROM_EMAIL", "Clocher <ne-pas-repondre@localhost>")

# --- Mail service: Postfix and Dovecot run by `clocher serve` on unprivileged ports by
# default; `clocher mail configure --target DIR` writes configs for system services.
# Vault: sealed chunks under VAULT_DIR (local backend), master key file beside them
# unless CLOCHER_VAULT_MASTER_KEY (base64, 32 bytes) is set.
VAULT_DIR = Path(env("VAULT_DIR", str(DATA_DIR / "vault")))
VAULT_MASTER_KEY = env("VAULT_MASTER_KEY", "")
VAULT_CHUNK_BYTES = env_int("VAULT_CHUNK_BYTES", 4 * 1024 * 1024)
VAULT_TRASH_DAYS = env_int("VAULT_TRASH_DAYS", 30)
VAULT_GC_GRACE_SECONDS = env_int("VAULT_GC_GRACE_SECONDS", 3600)
# Where sealed chunks go: "local" (VAULT_DIR/blobs) or "s3" (a bucket on a locally hosted
# S3 server: Ceph RGW, Garage, MinIO…; only ciphertext crosses the network).
VAULT_BACKEND = env("VAULT_BACKEND", "local")
VAULT_S3_ENDPOINT = env("VAULT_S3_ENDPOINT", "")
VAULT_S3_BUCKET = env("VAULT_S3_BUCKET", "clocher-coffre")
VAULT_S3_ACCESS_KEY = env("VAULT_S3_ACCESS_KEY", "")
VAULT_S3_SECRET_KEY = env("VAULT_S3_SECRET_KEY", "")
VAULT_S3_REGION = env("VAULT_S3_REGION", "default")
# A chunked upload (Nextcloud clients) may hold at most this much, and is dropped when
# left unfinished this long; an account may have this many open at once (the desktop
# client runs a few in parallel; its parts count in the space's quota meanwhile).
VAULT_UPLOAD_MAX_BYTES = env_int("VAULT_UPLOAD_MAX_BYTES", 64 * 1024**3)
VAULT_UPLOAD_EXPIRY_HOURS = env_int("VAULT_UPLOAD_EXPIRY_HOURS", 24)
VAULT_MAX_UPLOAD_SESSIONS = env_int("VAULT_MAX_UPLOAD_SESSIONS", 20)
# Document imports (folder or zip): the most one import may unpack, and how many entries.
VAULT_IMPORT_MAX_BYTES = env_int("VAULT_IMPORT_MAX_BYTES", 20 * 1024**3)
VAULT_IMPORT_MAX_ENTRIES = env_int("VAULT_IMPORT_MAX_ENTRIES", 100_000)
# Files one node receives and another may process or serve (uploaded imports, commune
# exports): sealed in their own bucket when the vault is on S3, else under SHARED_DIR (a
# filesystem every node mounts) or the data dir (one node). See clocher.core.staging.
SHARED_DIR = env("SHARED_DIR", "")
STAGING_S3_BUCKET = env("STAGING_S3_BUCKET", f"{VAULT_S3_BUCKET}-transit")
# The shield's central Ed25519 key: a path every web node mounts (the same key on each).
SHIELD_CENTRAL_KEY_FILE = env("SHIELD_CENTRAL_KEY_FILE", "")

# Groupware: calendars and address books (Radicale's filesystem storage, backed up with
# the data dir); iMIP invitations by mail when events have attendees.
GROUPWARE_DIR = Path(env("GROUPWARE_DIR", str(DATA_DIR / "groupware")))
GROUPWARE_IMIP = env_bool("GROUPWARE_IMIP", True)

# Webmail: Roundcube (Debian) under php-fpm, started by `clocher serve` when installed,
# relayed at /webmail/; its config, SQLite database and secrets under WEBMAIL_DIR.
WEBMAIL_ENABLED = env_bool("WEBMAIL_ENABLED", True)
WEBMAIL_DIR = Path(env("WEBMAIL_DIR", str(DATA_DIR / "webmail")))
# Where the webmail reaches IMAP, submission and ManageSieve: this machine, or from a node
# without the daemons role (`--roles web`), the node that runs Dovecot and Postfix.
WEBMAIL_MAIL_HOST = env("WEBMAIL_MAIL_HOST", "127.0.0.1")
# Archive (probative): sealed copies under ARCHIVE_DIR (local) or in their own S3 bucket
# (the vault's backend settings otherwise), time-stamped by ARCHIVE_TSA_URL (RFC 3161);
# empty = Clocher's embedded TSA, not qualified (key and certificate in ARCHIVE_DIR/tsa).
ARCHIVE_DIR = Path(env("ARCHIVE_DIR", str(DATA_DIR / "archive")))
ARCHIVE_S3_BUCKET = env("ARCHIVE_S3_BUCKET", "clocher-archives")
ARCHIVE_TSA_URL = env("ARCHIVE_TSA_URL", "")
ARCHIVE_TSA_NAME = env("ARCHIVE_TSA_NAME", "")
ARCHIVE_TSA_QUALIFIED = env_bool("ARCHIVE_TSA_QUALIFIED", False)
ARCHIVE_TSA_CA_FILE = env("ARCHIVE_TSA_CA_FILE", "")

# Shield (central side of the boxes): prefixes no box may ever block (the central's own
# addresses, management links; comma-separated), how long a source that attacked one
# commune stays blocked at every box, and the central brute-force threshold (failed
# logins from one address within the window).
SHIELD_ALLOWLIST = [p.strip() for p in env("SHIELD_ALLOWLIST", "").split(",") if p.strip()]
SHIELD_COLLECTIVE_HOURS = env_int("SHIELD_COLLECTIVE_HOURS", 24)
SHIELD_BRUTEFORCE_FAILURES = env_int("SHIELD_BRUTEFORCE_FAILURES", 20)
SHIELD_BRUTEFORCE_WINDOW_MINUTES = env_int("SHIELD_BRUTEFORCE_WINDOW_MINUTES", 10)

# Finance: the operator's alert threshold on the capacité de désendettement (encours /
# épargne brute, in years; the prefecture's usual warning is 12 years for communes).
FINANCE_ALERT_YEARS = env_int("FINANCE_ALERT_YEARS", 12)

# Energy what-if: prices of final energy (€/kWh TTC) turning kWh saved into euros, and
# emission factors (kgCO2e/kWh) into CO2; set your own contracts' prices. Defaults are
# 2025 orders of magnitude (sources and dates in docs/energy.md): electricity CRE tarif
# bleu non résidentiel (février 2025), gas CRE prix repère (2025), heat networks SNCU/
# AMORCE average price (enquête 2024), oil and wood SDES Pégase (2025); emission factors
# ADEME Base Empreinte (consultée en 2025).
ENERGY_PRICE_ELEC_EUR_KWH = float(env("ENERGY_PRICE_ELEC_EUR_KWH", "0.25"))
ENERGY_PRICE_GAS_EUR_KWH = float(env("ENERGY_PRICE_GAS_EUR_KWH", "0.11"))
ENERGY_PRICE_HEAT_EUR_KWH = float(env("ENERGY_PRICE_HEAT_EUR_KWH", "0.10"))
ENERGY_PRICE_OIL_EUR_KWH = float(env("ENERGY_PRICE_OIL_EUR_KWH", "0.12"))
ENERGY_PRICE_WOOD_EUR_KWH = float(env("ENERGY_PRICE_WOOD_EUR_KWH", "0.07"))
ENERGY_CO2_ELEC_KG_KWH = float(env("ENERGY_CO2_ELEC_KG_KWH", "0.079"))
ENERGY_CO2_GAS_KG_KWH = float(env("ENERGY_CO2_GAS_KG_KWH", "0.227"))
ENERGY_CO2_HEAT_KG_KWH = float(env("ENERGY_CO2_HEAT_KG_KWH", "0.110"))
ENERGY_CO2_OIL_KG_KWH = float(env("ENERGY_CO2_OIL_KG_KWH", "0.324"))
ENERGY_CO2_WOOD_KG_KWH = float(env("ENERGY_CO2_WOOD_KG_KWH", "0.030"))

# Operations (backup): a restic repository on a local path (another disk) or an S3 bucket
# of a second site (`s3:https://s3.site2.example/clocher-sauvegardes`); empty = no backup
# until one is set. Its password lives in BACKUP_PASSWORD_FILE on this machine (never in
# the repository) and on the paper recovery kit. Nightly backup at BACKUP_HOUR, weekly
# sample read-back, monthly drill, retention 7 daily / 4 weekly / 12 monthly.
BACKUP_REPOSITORY = env("BACKUP_REPOSITORY", "")
BACKUP_PASSWORD_FILE = Path(env("BACKUP_PASSWORD_FILE", str(DATA_DIR / "backup.key")))
BACKUP_S3_ACCESS_KEY = env("BACKUP_S3_ACCESS_KEY", "")
BACKUP_S3_SECRET_KEY = env("BACKUP_S3_SECRET_KEY", "")
BACKUP_HOUR = env_int("BACKUP_HOUR", 2)
BACKUP_CHECK_PERCENT = env_int("BACKUP_CHECK_PERCENT", 5)
DRILL_WEB_PORT = env_int("DRILL_WEB_PORT", 8099)

MAIL_ENABLED = env_bool("MAIL_ENABLED", True)
# Postfix's queue and config, Dovecot's state and the mailboxes: under the data dir, so two
# installations on one machine never share a queue. Only root's implicit data dir (in its
# private home, which Postfix and Dovecot cannot traverse) keeps it in /var/lib/clocher.
MAIL_DIR = Path(
    env(
        "MAIL_DIR",
        "/var/lib/clocher/mail"
        if os.geteuid() == 0 and not env("DATA_DIR")
        else str(DATA_DIR / "mail"),
    )
)
MAIL_HOSTNAME = env("MAIL_HOSTNAME", "")
MAIL_BIND = env("MAIL_BIND", "127.0.0.1")
MAIL_SMTP_PORT = env_int("MAIL_SMTP_PORT", 2525)
MAIL_SUBMISSION_PORT = env_int("MAIL_SUBMISSION_PORT", 5587)
MAIL_IMAP_PORT = env_int("MAIL_IMAP_PORT", 1143)
MAIL_IMAPS_PORT = env_int("MAIL_IMAPS_PORT", 1993)
MAIL_SIEVE_PORT = env_int("MAIL_SIEVE_PORT", 14190)
MAIL_LMTP_PORT = env_int("MAIL_LMTP_PORT", 24024)
MAIL_AUTH_PORT = env_int("MAIL_AUTH_PORT", 12345)
MAIL_QUOTA_STATUS_PORT = env_int("MAIL_QUOTA_STATUS_PORT", 12340)
# Loopback-only smtpd through which Dovecot sends Sieve replies and redirects out.
MAIL_REINJECT_PORT = env_int("MAIL_REINJECT_PORT", 10027)
MAIL_MAX_MESSAGE_BYTES = env_int("MAIL_MAX_MESSAGE_BYTES", 25 * 1024 * 1024)
MAIL_RELAYHOST = env("MAIL_RELAYHOST", "")
MAIL_TLS_CERT = env("MAIL_TLS_CERT", str(DATA_DIR / "tls" / "mail.crt"))
MAIL_TLS_KEY = env("MAIL_TLS_KEY", str(DATA_DIR / "tls" / "mail.key"))
# Mail import (mail.migrate): connections one import opens to its source (and to our
# Dovecot), and the most that all imports together open to one source server.
MAIL_IMPORT_CONNECTIONS = env_int("MAIL_IMPORT_CONNECTIONS", 3)
MAIL_IMPORT_SERVER_CONNECTIONS = env_int("MAIL_IMPORT_SERVER_CONNECTIONS", 6)
# Off: an IMAP import reaches only public addresses, on ports 993 and 143 (the import form
# must not open the département's internal network). On: any address and port, e.g. to
# bring mail in from a server of the operator's own network.
MAIL_IMPORT_ALLOW_PRIVATE = env_bool("MAIL_IMPORT_ALLOW_PRIVATE", False)
# Resolver for the DNS helper's live check (default: the system's).
DNS_RESOLVER = env("DNS_RESOLVER", "")
# E-services audit: trust anchors for the sites' certificates (default: the system's),
# and whether private addresses may be listed as targets (off: only public ones).
ESERVICES_CA_FILE = env("ESERVICES_CA_FILE", "")
ESERVICES_ALLOW_PRIVATE = env_bool("ESERVICES_ALLOW_PRIVATE", False)
# How many targets an audit checks at once (network-bound work, polite per target).
ESERVICES_PARALLEL = env_int("ESERVICES_PARALLEL", 8)
# Days between two audits of a target by `clocher serve`'s scheduler (weekly).
ESERVICES_SCAN_DAYS = env_int("ESERVICES_SCAN_DAYS", 7)

# --- Background work: Django's tasks API, database backend.
TASK_BACKEND = env("TASK_BACKEND", "django_tasks_db.DatabaseBackend")
TASKS = {
    "default": {
        "BACKEND": TASK_BACKEND,
        # The database queue sees a task once its transaction commits; the immediate
        # backend (tests) runs it in place.
        "ENQUEUE_ON_COMMIT": TASK_BACKEND.endswith("DatabaseBackend"),
    }
}

# --- Security headers.
SECURE_COOKIES = env_bool("SECURE_COOKIES", BASE_URL.startswith("https://"))
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("SESSION_HOURS", 10) * 3600
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if SECURE_COOKIES:
    SECURE_HSTS_SECONDS = 31536000
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "clocher.api.auth.ApiTokenAuthentication",
        "clocher.api.auth.TwoFactorSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "clocher.api.pagination.StrictLimitOffsetPagination",
    "PAGE_SIZE": 100,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "API Clocher",
    "DESCRIPTION": "Communes et membres du cloud public local.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "clocher.api.schema.add_common_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "MembershipRoleEnum": "clocher.core.models.Role",
        "CommuneStatusEnum": "clocher.core.models.CommuneStatus",
        "CommuneRoleEnum": ["commune_admin", "agent", "elected"],
        "NewCommuneStatusEnum": ["applied", "active"],
        "ForecastSeriesSourceEnum": "clocher.forecast.models.SeriesSource",
        "ForecastFrequencyEnum": "clocher.forecast.models.Frequency",
        "FinanceLoanSourceEnum": "clocher.finance.models.LoanSource",
        "MailboxKindEnum": "clocher.mail.models.MailboxKind",
        "SpaceKindEnum": "clocher.vault.models.SpaceKind",
        "ShareModeEnum": "clocher.vault.models.ShareMode",
        "EnergyMeterKindEnum": "clocher.energy.models.MeterKind",
    },
}

# --- Supervision (docs/operations.md): who may read /metrics — addresses or networks
# (CLOCHER_METRICS_ALLOW=127.0.0.1/32,10.0.0.5) or a bearer token; neither: nobody.
METRICS_ALLOW = [n.strip() for n in env("METRICS_ALLOW").split(",") if n.strip()]
METRICS_TOKEN = env("METRICS_TOKEN")
# How often the audit chain's incremental check may run (seconds); between, its result.
METRICS_CHAIN_TTL = env_int("METRICS_CHAIN_TTL", 300)
# The platform's own alert mail (no Alertmanager): messages waiting in Postfix's queue.
ALERT_MAIL_QUEUE_MAX = env_int("ALERT_MAIL_QUEUE_MAX", 100)
# Crisis: the data protection officer named in the CNIL notification draft.
DPO_NAME = env("DPO_NAME")
DPO_EMAIL = env("DPO_EMAIL")
DPO_PHONE = env("DPO_PHONE")

# --- Data governance (docs/governance.md): how long each data class is kept, in days,
# enforced by the hourly housekeeping of `clocher serve`, each purge journalled.
RETENTION_LOGS_DAYS = env_int("RETENTION_LOGS_DAYS", 365)
RETENTION_SHIELD_EVENTS_DAYS = env_int("RETENTION_SHIELD_EVENTS_DAYS", 365)
RETENTION_AWARENESS_DAYS = env_int("RETENTION_AWARENESS_DAYS", 365)
RETENTION_DEPARTED_MAIL_DAYS = env_int("RETENTION_DEPARTED_MAIL_DAYS", 90)
RETENTION_ESERVICES_DAYS = env_int("RETENTION_ESERVICES_DAYS", 730)
RETENTION_AUDIT_DAYS = env_int("RETENTION_AUDIT_DAYS", 3650)
# Sobriety: the energy estimate's factors (method in docs/governance.md).
SOBRIETY_WATTS_PER_CPU = env_int("SOBRIETY_WATTS_PER_CPU", 15)
SOBRIETY_WATTS_PER_TB = env_int("SOBRIETY_WATTS_PER_TB", 12)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # WeasyPrint narrates every PDF it makes (reports, attestations) at INFO.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}
